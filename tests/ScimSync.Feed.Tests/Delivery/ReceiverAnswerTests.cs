using System.Text;
using ScimSync.Feed.Delivery;

namespace ScimSync.Feed.Tests.Delivery;

/// <summary>Reading a receiver's answer without trusting its shape.</summary>
public sealed class ReceiverAnswerTests
{
    private static ReceiverAnswer Answer(int status, string body, bool truncated = false, string? encoding = null) =>
        new(status, "Whatever", null, encoding, Encoding.UTF8.GetBytes(body), truncated);

    [Theory]
    [InlineData("""{"err":"invalid_audience","description":"not for us"}""", "invalid_audience: not for us")]
    [InlineData("""{"err":"access_denied"}""", "access_denied")]
    [InlineData("""{"err":"invalid_request","description":{"x":1}}""", "invalid_request (description is not a string)")]
    [InlineData("""{"err":1}""", """not an RFC 8935 error: {"err":1}""")]
    [InlineData("""[1,2]""", "not an RFC 8935 error: [1,2]")]
    [InlineData("<html>", "not an RFC 8935 error: <html>")]
    [InlineData("", "no RFC 8935 error in the answer")]
    public void A_refusal_reads_RFC_8935_errors_and_describes_anything_else(string body, string reason) =>
        Assert.Equal(reason, Answer(400, body).RefusalReason());

    [Fact]
    public void JSON_nested_beyond_an_error_body_is_not_parsed_as_one() =>
        Assert.StartsWith("not an RFC 8935 error", Answer(400, new string('[', 5000) + new string(']', 5000)).RefusalReason(), StringComparison.Ordinal);

    [Fact]
    public void A_cut_or_encoded_answer_says_so_instead_of_being_parsed()
    {
        Assert.StartsWith("answer longer than 10 bytes", Answer(400, "{\"err\":\"in", truncated: true).RefusalReason(), StringComparison.Ordinal);
        Assert.Equal("answer with Content-Encoding gzip, not decoded", Answer(400, "\u001f\u008b", encoding: "gzip").RefusalReason());
    }

    [Theory]
    [InlineData("")]
    [InlineData("ok")]
    [InlineData("""{"status":"fine"}""")]
    [InlineData("[]")]
    public void A_batch_answer_without_setErrs_accepts_the_batch(string body)
    {
        var verdict = Answer(200, body).SetErrors();
        Assert.Null(verdict.Unreadable);
        Assert.Empty(verdict.Rejected);
    }

    [Fact]
    public void SetErrs_name_the_rejected_SETs_whatever_the_shape_of_each_error()
    {
        var verdict = Answer(200, """{"setErrs":{"a":{"err":"invalid_key","description":"old key"},"b":{"err":7},"c":"nope"}}""").SetErrors();
        Assert.Null(verdict.Unreadable);
        Assert.Equal("invalid_key: old key", verdict.Rejected["a"]);
        Assert.Equal("""not an RFC 8935 error: {"err":7}""", verdict.Rejected["b"]);
        Assert.Equal("not an RFC 8935 error: \"nope\"", verdict.Rejected["c"]);
    }

    [Theory]
    [InlineData("""{"setErrs":[1]}""", false, null)]
    [InlineData("""{"setErrs":{"a":{"err":"x"}}}""", true, null)]
    [InlineData("""{"setErrs":{}}""", false, "gzip")]
    public void A_batch_answer_that_cannot_be_read_whole_accepts_nothing(string body, bool truncated, string? encoding)
    {
        var verdict = Answer(200, body, truncated, encoding).SetErrors();
        Assert.NotNull(verdict.Unreadable);
        Assert.Empty(verdict.Rejected);
    }
}
