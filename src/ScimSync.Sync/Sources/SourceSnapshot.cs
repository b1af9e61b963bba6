using System.Text.Json.Nodes;
using ScimSync.Sync.Accounts;

namespace ScimSync.Sync.Sources;

/// <summary>One account of the source of truth, with what the engine derived from it.</summary>
public sealed record SourceAccount(string Id, JsonObject Document, AccountKind Kind, DateTimeOffset? EndDate)
{
    public string UserName => Document["userName"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : "";

    /// <summary>The source's own active flag (absent means active).</summary>
    public bool SourceActive => Document["active"] is not JsonValue v || !v.TryGetValue<bool>(out var b) || b;

    /// <summary>Active on targets: active at the source and, for an account with an end date, before that instant.</summary>
    public bool ActiveAt(DateTimeOffset now) => SourceActive && (EndDate is not { } end || now < end);

    public static SourceAccount From(JsonObject doc, AccountKindRules rules)
    {
        var id = doc["id"]?.GetValue<string>() ?? throw new FormatException("a source account has no id");
        return new SourceAccount(id, doc, rules.KindOf(doc), rules.EndDateOf(doc));
    }
}

public sealed record SourceGroup(string Id, string DisplayName, IReadOnlyList<string> Members);

/// <summary>
/// The source's state at one point: every account and group, and (for a SCIM source with a journal) the
/// journal position the snapshot is consistent with, so the feed can start exactly after it.
/// </summary>
public sealed class SourceSnapshot
{
    private readonly Dictionary<string, List<string>> _groupNamesByMember = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, SourceAccount> Users { get; }
    public IReadOnlyDictionary<string, SourceGroup> Groups { get; }
    public long? Position { get; }

    public SourceSnapshot(IEnumerable<SourceAccount> users, IEnumerable<SourceGroup> groups, long? position)
    {
        Users = users.ToDictionary(u => u.Id, StringComparer.Ordinal);
        Groups = groups.ToDictionary(g => g.Id, StringComparer.Ordinal);
        Position = position;
        foreach (var g in Groups.Values)
            foreach (var m in g.Members)
            {
                if (!_groupNamesByMember.TryGetValue(m, out var list)) _groupNamesByMember[m] = list = [];
                list.Add(g.DisplayName);
            }
    }

    public IReadOnlyList<string> GroupNamesOf(string userId) =>
        _groupNamesByMember.TryGetValue(userId, out var list) ? list : [];

    /// <summary>A copy with some accounts and groups replaced or removed (incremental changes).</summary>
    public SourceSnapshot With(IEnumerable<SourceAccount> upsertUsers, IEnumerable<string> deletedUsers,
        IEnumerable<SourceGroup> upsertGroups, IEnumerable<string> deletedGroups, long? position)
    {
        var users = new Dictionary<string, SourceAccount>(Users, StringComparer.Ordinal);
        foreach (var d in deletedUsers) users.Remove(d);
        foreach (var u in upsertUsers) users[u.Id] = u;
        var groups = new Dictionary<string, SourceGroup>(Groups, StringComparer.Ordinal);
        foreach (var d in deletedGroups) groups.Remove(d);
        foreach (var g in upsertGroups) groups[g.Id] = g;
        return new SourceSnapshot(users.Values, groups.Values, position ?? Position);
    }
}
