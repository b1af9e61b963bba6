using ScimSync.Protocol.Json;

namespace ScimSync.Protocol.Tests.Json;

/// <summary>The per-thread writer: used again, never shared by two writes at once, and not kept once it grew large.</summary>
public sealed class ReusedJsonWriterTests
{
    [Fact]
    public void A_write_nested_in_another_gets_its_own_writer_and_the_outer_one_is_intact()
    {
        using var outer = ReusedJsonWriter.Rent();
        outer.Writer.WriteStartObject();
        outer.Writer.WriteString("a", "é");
        using (var inner = ReusedJsonWriter.Rent())
        {
            Assert.NotSame(outer.Writer, inner.Writer);
            inner.Writer.WriteStringValue("inner");
            Assert.Equal("\"inner\"", inner.ToString());
        }
        outer.Writer.WriteEndObject();
        Assert.Equal("{\"a\":\"\\u00E9\"}", outer.ToString());
    }

    [Fact]
    public void The_writer_is_used_again_after_a_small_document_and_not_after_a_large_one()
    {
        System.Text.Json.Utf8JsonWriter first;
        using (var a = ReusedJsonWriter.Rent(relaxedEscaping: true))
        {
            first = a.Writer;
            a.Writer.WriteStringValue("é");
            Assert.Equal("\"é\"", a.ToString());
        }
        using (var b = ReusedJsonWriter.Rent(relaxedEscaping: true))
        {
            Assert.Same(first, b.Writer);
            Assert.Equal("", b.ToString()); // nothing of the previous document is left
            b.Writer.WriteStringValue(new string('x', 100_000));
        }
        using var c = ReusedJsonWriter.Rent(relaxedEscaping: true);
        Assert.NotSame(first, c.Writer);
    }
}
