using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Encodings.Web;
using ScimSync.Client;
using ScimSync.Sync.Accounts;

namespace ScimSync.Sync.Sources;

/// <summary>
/// Finds one person at a SCIM source, with the groups they belong to, without reading the whole source:
/// what provisioning on demand starts from. A source snapshot made of that one person and their groups is
/// enough to plan them (incremental planning looks at the people it is given and at nobody else).
/// </summary>
public sealed class PersonLookup(ScimClient client, AccountKindRules kinds)
{
    private static readonly JsonSerializerOptions Literal = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>SCIM filter string literals are JSON strings (RFC 7644 §3.4.2.2).</summary>
    public static string Quote(string value) => JsonSerializer.Serialize(value, Literal);

    /// <summary>
    /// Every source account whose id, userName or externalId is <paramref name="who"/>: one query. A source that
    /// cannot filter on <c>id</c> (it answers 400) is asked the three ways in turn.
    /// </summary>
    public async Task<IReadOnlyList<JsonObject>> FindAsync(string who, CancellationToken ct)
    {
        var q = Quote(who);
        try
        {
            return await ListAsync("Users", $"id eq {q} or userName eq {q} or externalId eq {q}", ct).ConfigureAwait(false);
        }
        catch (ScimClientException e) when (e.Status == 400)
        {
            var found = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
            if (await client.GetAsync("Users", who, null, ct).ConfigureAwait(false) is { } byId) found[IdOf(byId)] = byId;
            foreach (var filter in new[] { $"userName eq {q}", $"externalId eq {q}" })
                foreach (var doc in await ListAsync("Users", filter, ct).ConfigureAwait(false))
                    found[IdOf(doc)] = doc;
            return found.Values.ToArray();
        }
    }

    /// <summary>
    /// The person as the engine keeps a source account, and the source groups they belong to (each holding
    /// them alone as its member). The groups come from the user's <c>groups</c> attribute; a source that
    /// does not return it is asked once for the groups that have the person as a member.
    /// </summary>
    public async Task<(SourceAccount Account, IReadOnlyList<SourceGroup> Groups)> ReadAsync(JsonObject user, CancellationToken ct)
    {
        var id = IdOf(user);
        var groups = new List<SourceGroup>();
        if (user["groups"] is JsonArray listed)
        {
            var named = new List<(string, string, bool)>();
            foreach (var g in listed.OfType<JsonObject>())
            {
                if (g["value"] is not JsonValue v || !v.TryGetValue<string>(out var gid)) continue;
                var name = g["display"] is JsonValue d && d.TryGetValue<string>(out var display) ? display : null;
                name ??= await DisplayNameAsync(gid, ct).ConfigureAwait(false);
                if (name is not null) named.Add((gid, name, IsIndirect(g)));
            }
            groups.AddRange(GroupsOf(id, named));
        }
        else
        {
            foreach (var g in await ListAsync("Groups", $"members.value eq {Quote(id)}", ct, attributes: "displayName").ConfigureAwait(false))
                if (ScimSourceReader.ToGroup(g) is { } group) groups.Add(group with { Members = [id] });
        }
        // A full read excludes `groups` (ScimSourceReader): the account is kept the same way here, so that a scope
        // filter or a mapping sees the same document whichever way the person was read.
        var document = user.DeepClone().AsObject();
        document.Remove("groups");
        return (SourceAccount.From(document, kinds), groups);
    }

    /// <summary>An entry of <c>User.groups</c> that the user is in only through nesting (RFC 7643 §4.1.2 "indirect").</summary>
    public static bool IsIndirect(JsonObject entry) =>
        entry["type"] is JsonValue t && t.TryGetValue<string>(out var type) && type.Equals("indirect", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// One person's groups as source groups holding them alone. A group they are in only through nesting holds
    /// their direct groups as nested groups: which chain leads to it is not told, and scope and planning need only
    /// that it is reached, and through which groups.
    /// </summary>
    public static IReadOnlyList<SourceGroup> GroupsOf(string userId, IEnumerable<(string Id, string Name, bool Indirect)> groups)
    {
        var list = groups.DistinctBy(g => g.Id).ToArray();
        var direct = list.Where(g => !g.Indirect).Select(g => g.Id).ToArray();
        return list.Select(g => g.Indirect ? new SourceGroup(g.Id, g.Name, []) { Subgroups = direct } : new SourceGroup(g.Id, g.Name, [userId])).ToArray();
    }

    /// <summary>A source group's displayName, or null when the group is gone (404).</summary>
    public async Task<string?> DisplayNameAsync(string groupId, CancellationToken ct) =>
        await client.GetAsync("Groups", groupId, "displayName", ct).ConfigureAwait(false) is { } g && g["displayName"] is JsonValue n && n.TryGetValue<string>(out var name)
            ? name : null;

    private async Task<List<JsonObject>> ListAsync(string endpoint, string filter, CancellationToken ct, string? attributes = null)
    {
        var found = new List<JsonObject>();
        await foreach (var page in client.ListAsync(endpoint, new ListOptions { Filter = filter, Attributes = attributes, PageSize = 10 }, ct).ConfigureAwait(false))
            found.AddRange(page.Resources.Where(r => r["id"] is JsonValue));
        return found;
    }

    private static string IdOf(JsonObject doc) => doc["id"]!.GetValue<string>();
}
