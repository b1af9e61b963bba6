using ScimSync.Protocol.Resources;

namespace ScimSync.Protocol.Tests.Identifiers;

/// <summary>userName preparation (RFC 8265, UsernameCaseMapped): what is refused, and what is the same account.</summary>
public sealed class UserNamePreparationTests
{
    [Theory]
    [InlineData("user0 ", "space")]
    [InlineData(" user0", "space")]
    [InlineData("user0\u200b", "invisible")]      // zero width space
    [InlineData("us\u00ader0", "invisible")]      // soft hyphen
    [InlineData("user0\u0007", "control")]
    [InlineData("jane  doe", "two spaces")]
    [InlineData("jane\u00a0doe", "a space other than")] // no-break space
    [InlineData("\ufb01x", "compatibility")]      // the ligature fi
    [InlineData("x\u00b2", "may not hold")]       // superscript two
    [InlineData("user\u3164", "invisible letter")] // Hangul filler
    [InlineData("", "empty")]
    public void Lookalikes_and_invisible_characters_are_refused(string userName, string reason)
    {
        var problem = ScimText.UserNameProblem(userName);
        Assert.NotNull(problem);
        Assert.Contains(reason, problem);
    }

    [Theory]
    [InlineData("user0")]
    [InlineData("bjensen@example.com")]
    [InlineData("Jane Doe")]           // userparts separated by one space (RFC 8265 §3.1)
    [InlineData("émile")]
    [InlineData("Ólafur.Arnalds")]
    [InlineData("张伟")]
    [InlineData("o'neil+test_1-2")]
    public void Ordinary_identifiers_are_accepted(string userName) => Assert.Null(ScimText.UserNameProblem(userName));

    [Theory]
    [InlineData("USER0", "user0")]
    [InlineData("\uff55\uff53\uff45\uff52\uff10", "user0")] // fullwidth
    [InlineData("e\u0301mile", "\u00e9mile")]              // decomposed and composed é
    [InlineData("Émile", "émile")]
    public void Strings_a_person_reads_the_same_have_one_key(string a, string b) =>
        Assert.Equal(ScimText.UniquenessKey(b), ScimText.UniquenessKey(a));
}
