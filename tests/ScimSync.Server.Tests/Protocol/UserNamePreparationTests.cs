using System.Net;
using ScimSync.Server.Tests.Infrastructure;
using static ScimSync.Server.Tests.Infrastructure.Scim;

namespace ScimSync.Server.Tests.Protocol;

/// <summary>
/// userName preparation (RFC 8265, UsernameCaseMapped), the same for uniqueness and for filters: a lookalike
/// of an existing userName is refused or is that account, and a filter finds every account a create would
/// call a duplicate.
/// </summary>
public sealed class UserNamePreparationTests(ScimServerFixture server) : IClassFixture<ScimServerFixture>
{
    private readonly HttpClient _c = server.Client;

    [Theory]
    [InlineData("{0} ")]
    [InlineData(" {0}")]
    [InlineData("{0}\u200b")]
    [InlineData("{0}\u00ad")]
    public async Task A_lookalike_with_invisible_or_edge_characters_is_refused(string pattern)
    {
        var name = Unique("user0");
        await _c.CreateUserAsync(name);
        var r = await _c.PostAsync("Users", User(string.Format(System.Globalization.CultureInfo.InvariantCulture, pattern, name)));
        AssertError(r, HttpStatusCode.BadRequest, "invalidValue");
        Assert.Contains("RFC 8265", r.Json["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_fullwidth_or_differently_composed_userName_is_the_same_account_for_create_and_for_filters()
    {
        var name = "emile" + Guid.NewGuid().ToString("N")[..8];
        var composed = "\u00e9" + name[1..];          // émile...
        var decomposed = "e\u0301" + name[1..];       // e + combining acute
        var fullwidth = string.Concat(composed.Select(c => c is >= '!' and <= '~' ? (char)(c - 0x21 + 0xFF01) : c));
        var id = await _c.CreateUserAsync(composed);

        foreach (var lookalike in new[] { decomposed, fullwidth, composed.ToUpperInvariant() })
        {
            AssertError(await _c.PostAsync("Users", User(lookalike)), HttpStatusCode.Conflict, "uniqueness");
            var found = await _c.GetScimAsync("Users?filter=" + Uri.EscapeDataString($"userName eq \"{lookalike}\""));
            Assert.Equal(HttpStatusCode.OK, found.Status);
            Assert.Equal(id, Assert.Single(found.Json["Resources"]!.AsArray())!["id"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task A_userName_written_by_an_earlier_build_can_still_be_kept_on_update()
    {
        // Refused only when set or changed: an update of another attribute never trips on the stored name.
        var id = await _c.CreateUserAsync(Unique("keep"));
        var r = await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "title", "Lead")));
        Assert.Equal(HttpStatusCode.OK, r.Status);
        AssertError(await _c.PatchAsync($"Users/{id}", Patch(Op("replace", "userName", "keep\u200b"))), HttpStatusCode.BadRequest, "invalidValue");
    }
}
