using System.Text.Json.Nodes;
using ScimSync.Client;
using ScimSync.Sync.Accounts;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Inquiry;

/// <summary>One person as the source holds them now, with the groups they belong to there.</summary>
public sealed record SourcePerson(SourceAccount Account, IReadOnlyList<SourceGroup> Groups)
{
    /// <summary>A snapshot of the source that holds this person only: enough to scope, map and plan them.</summary>
    public SourceSnapshot Snapshot => new([Account], Groups, null);
}

/// <summary>Finds one person at the source by id, userName or externalId, with one read (no full read of the source).</summary>
public interface IPersonSource
{
    Task<SourcePerson?> FindAsync(string key, CancellationToken ct);
}

/// <summary>
/// A SCIM source: the key as an id (one GET), else as a userName, else as an externalId (one filtered list each).
/// The User resource's <c>groups</c> (RFC 7643 §4.1.2) gives the groups by name, which is what scopes ask about.
/// </summary>
public sealed class ScimPersonSource(ScimClient client, AccountKindRules kinds) : IPersonSource
{
    public async Task<SourcePerson?> FindAsync(string key, CancellationToken ct)
    {
        var doc = await ByIdAsync(key, ct).ConfigureAwait(false)
            ?? await FirstAsync("userName", key, ct).ConfigureAwait(false)
            ?? await FirstAsync("externalId", key, ct).ConfigureAwait(false);
        if (doc is null) return null;
        var account = SourceAccount.From(doc, kinds);
        var groups = PersonLookup.GroupsOf(account.Id, (doc["groups"] as JsonArray ?? []).OfType<JsonObject>()
            .SelectMany(g => g["value"] is JsonValue v && v.TryGetValue<string>(out var id)
                ? new[] { (id, g["display"]?.GetValue<string>() ?? id, PersonLookup.IsIndirect(g)) }
                : []));
        return new SourcePerson(account, groups);
    }

    private async Task<JsonObject?> ByIdAsync(string key, CancellationToken ct)
    {
        try
        {
            return await client.GetAsync("Users", key, null, ct).ConfigureAwait(false);
        }
        catch (ScimClientException e) when (e.Status == 400)
        {
            // Some providers answer 400, not 404, to a key that cannot be one of their ids (a userName).
            return null;
        }
    }

    private async Task<JsonObject?> FirstAsync(string attribute, string value, CancellationToken ct)
    {
        // SCIM filter string literals are JSON strings (RFC 7644 §3.4.2.2).
        var filter = $"{attribute} eq {System.Text.Json.JsonSerializer.Serialize(value)}";
        await foreach (var page in client.ListAsync("Users", new ListOptions { Filter = filter, PageSize = 2 }, ct).ConfigureAwait(false))
            return page.Resources.FirstOrDefault();
        return null;
    }
}

/// <summary>An HR export: read whole (it is a local file), then the person looked up in it.</summary>
public sealed class FilePersonSource(string path, FileFormat format, AccountKindRules kinds) : IPersonSource
{
    public Task<SourcePerson?> FindAsync(string key, CancellationToken ct)
    {
        var snapshot = FileSource.Read(path, format, kinds);
        var account = snapshot.Users.GetValueOrDefault(key)
            ?? snapshot.Users.Values.FirstOrDefault(u => u.UserName.Equals(key, StringComparison.OrdinalIgnoreCase))
            ?? snapshot.Users.Values.FirstOrDefault(u => u.Document["externalId"] is JsonValue e && e.TryGetValue<string>(out var x) && x == key);
        if (account is null) return Task.FromResult<SourcePerson?>(null);
        var groups = snapshot.Groups.Values.Where(g => g.Members.Contains(account.Id)).Select(g => g with { Members = [account.Id] }).ToArray();
        return Task.FromResult<SourcePerson?>(new SourcePerson(account, groups));
    }
}
