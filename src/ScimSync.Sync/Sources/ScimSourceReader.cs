using System.Text.Json.Nodes;
using ScimSync.Client;
using ScimSync.Sync.Accounts;

namespace ScimSync.Sync.Sources;

/// <summary>
/// Reads a SCIM service provider as the source of truth: every user and group, paged with cursors when
/// the provider advertises them and by index otherwise (the client decides), and the journal position the
/// snapshot is consistent with when the provider reports one (ScimSync servers do).
/// </summary>
public sealed class ScimSourceReader(ScimClient client, AccountKindRules kinds)
{
    public async Task<SourceSnapshot> ReadAsync(IProgress<long>? progress, CancellationToken ct)
    {
        var users = new List<SourceAccount>();
        long? position = null;
        var userWalk = new ListWalk();
        await foreach (var page in client.ListAsync("Users", new ListOptions { ExcludedAttributes = "groups", PageSize = 1000, ReadAhead = true }, userWalk, ct).ConfigureAwait(false))
        {
            position ??= page.JournalPosition;
            foreach (var doc in page.Resources)
                if (doc["id"] is JsonValue) users.Add(SourceAccount.From(doc, kinds));
            progress?.Report(users.Count);
        }
        Trust(userWalk, "users");
        var groups = new List<SourceGroup>();
        long? groupPosition = null;
        var groupWalk = new ListWalk();
        await foreach (var page in client.ListAsync("Groups", new ListOptions { PageSize = 200, ReadAhead = true }, groupWalk, ct).ConfigureAwait(false))
        {
            groupPosition ??= page.JournalPosition;
            groups.AddRange(page.Resources.Select(ToGroup).OfType<SourceGroup>());
        }
        Trust(groupWalk, "groups");
        // Member ids are the users' own ids: one string each instead of a second copy per membership. A member
        // that names no type is a nested group when its id is a group's and no user's (RFC 7643 makes type optional).
        var ids = users.ToDictionary(u => u.Id, u => u.Id, StringComparer.Ordinal);
        var groupIds = groups.Select(g => g.Id).ToHashSet(StringComparer.Ordinal);
        bool Nested(string m) => groupIds.Contains(m) && !ids.ContainsKey(m);
        groups = groups.Select(g => g with
        {
            Members = g.Members.Where(m => !Nested(m)).Select(m => ids.GetValueOrDefault(m) ?? m).ToArray(),
            Subgroups = g.Subgroups.Concat(g.Members.Where(Nested)).Distinct(StringComparer.Ordinal).ToArray(),
        }).ToList();
        // Two walks, two positions: starting the feed after the earlier one replays a few changes, which is
        // harmless (changes are applied by state, not by delta); starting after the later one could skip some.
        var consistent = position is null || groupPosition is null ? position ?? groupPosition : Math.Min(position.Value, groupPosition.Value);
        return new SourceSnapshot(users, groups, consistent);
    }

    /// <summary>
    /// A source read that does not add up is not a snapshot: everyone missing from it would look deleted at
    /// the source and be deprovisioned everywhere. The run stops instead.
    /// </summary>
    private static void Trust(ListWalk walk, string what)
    {
        if (!walk.Complete)
            throw new ScimClientException(0, null, $"the source's {what} listing does not add up ({string.Join("; ", walk.Irregularities)}); nothing is planned from it");
    }

    public async Task<SourceAccount?> GetUserAsync(string id, CancellationToken ct) =>
        await client.GetAsync("Users", id, null, ct).ConfigureAwait(false) is { } doc ? SourceAccount.From(doc, kinds) : null;

    public async Task<SourceGroup?> GetGroupAsync(string id, CancellationToken ct) =>
        await client.GetAsync("Groups", id, null, ct).ConfigureAwait(false) is { } doc ? ToGroup(doc) : null;

    public static SourceGroup? ToGroup(JsonObject doc)
    {
        if (doc["id"] is not JsonValue idValue || !idValue.TryGetValue<string>(out var id)) return null;
        var name = doc["displayName"] is JsonValue n && n.TryGetValue<string>(out var dn) ? dn : id;
        var members = new List<string>();
        var subgroups = new List<string>();
        foreach (var m in doc["members"] as JsonArray ?? [])
            if (m?["value"] is JsonValue mv && mv.TryGetValue<string>(out var value))
                (IsGroup(m) ? subgroups : members).Add(value);
        return new SourceGroup(id, name, members)
        {
            Version = ResourceVersion.Parse(doc["meta"]?["version"] is JsonValue v && v.TryGetValue<string>(out var tag) ? tag : null),
            Subgroups = subgroups,
        };
    }

    /// <summary>A member of type Group, or without a type but with a <c>$ref</c> to a group.</summary>
    private static bool IsGroup(JsonNode member)
    {
        if (member["type"] is JsonValue t && t.TryGetValue<string>(out var type)) return type.Equals("Group", StringComparison.OrdinalIgnoreCase);
        return member["$ref"] is JsonValue r && r.TryGetValue<string>(out var reference) && reference.Contains("/Groups/", StringComparison.OrdinalIgnoreCase);
    }
}
