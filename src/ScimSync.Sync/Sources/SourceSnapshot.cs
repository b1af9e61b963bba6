using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Sync.Accounts;

namespace ScimSync.Sync.Sources;

/// <summary>
/// One account of the source of truth, with what the engine derived from it. The document is kept as
/// compact UTF-8 JSON and parsed when needed (callers keep the parsed copy in a local while they use it):
/// 100,000 accounts as JSON DOMs cost gigabytes, as bytes tens of megabytes.
/// </summary>
public sealed class SourceAccount
{
    private readonly byte[] _json;

    private SourceAccount(string id, byte[] json, AccountKind kind, DateTimeOffset? endDate, string userName, bool sourceActive)
    {
        Id = id;
        _json = json;
        Kind = kind;
        EndDate = endDate;
        UserName = userName;
        SourceActive = sourceActive;
    }

    public string Id { get; }
    public AccountKind Kind { get; }
    public DateTimeOffset? EndDate { get; }
    public string UserName { get; }

    /// <summary>The source's own active flag (absent means active).</summary>
    public bool SourceActive { get; }

    /// <summary>A fresh parse of the account's document.</summary>
    public JsonObject Document => JsonNode.Parse(_json)!.AsObject();

    public ReadOnlySpan<byte> Json => _json;

    /// <summary>Active on targets: active at the source and, for an account with an end date, before that instant.</summary>
    public bool ActiveAt(DateTimeOffset now) => SourceActive && (EndDate is not { } end || now < end);

    public static SourceAccount From(JsonObject doc, AccountKindRules rules)
    {
        var id = doc["id"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new FormatException("a source account has no id");
        var userName = doc["userName"] is JsonValue u && u.TryGetValue<string>(out var n) ? n : "";
        var active = AccountKindRules.IsActive(doc);
        // meta.location and meta.resourceType say nothing a scope or mapping could use and are a sixth of
        // an account held in memory; version, created and lastModified are kept (replay detection, filters).
        var json = doc["meta"] is JsonObject meta && (meta.ContainsKey("location") || meta.ContainsKey("resourceType"))
            ? Compact(doc, meta)
            : JsonSerializer.SerializeToUtf8Bytes(doc);
        return new SourceAccount(id, json, rules.KindOf(doc), rules.EndDateOf(doc), userName, active);
    }

    private static byte[] Compact(JsonObject doc, JsonObject meta)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var (name, value) in doc)
            {
                w.WritePropertyName(name);
                if (ReferenceEquals(value, meta))
                {
                    w.WriteStartObject();
                    foreach (var (key, item) in meta)
                    {
                        if (key is "location" or "resourceType") continue;
                        w.WritePropertyName(key);
                        if (item is null) w.WriteNullValue();
                        else item.WriteTo(w);
                    }
                    w.WriteEndObject();
                }
                else if (value is null) w.WriteNullValue();
                else value.WriteTo(w);
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>A source group: its user members (<see cref="Members"/>) and the groups nested in it (<see cref="Subgroups"/>).</summary>
/// <param name="Members">The ids of the users that are direct members.</param>
public sealed record SourceGroup(string Id, string DisplayName, IReadOnlyList<string> Members)
{
    /// <summary>The group's version as last read or derived, to recognise replayed events.</summary>
    public long? Version { get; init; }

    /// <summary>The ids of the groups that are direct members (RFC 7643 <c>members</c> of type Group).</summary>
    public IReadOnlyList<string> Subgroups { get; init; } = [];

    /// <summary>
    /// Users and nested groups as one list, a nested group as its queue key (<c>group:ID</c>): the form the
    /// engine's state keeps as the membership baseline a resumed engine compares with.
    /// </summary>
    public IReadOnlyList<string> Baseline => Subgroups.Count == 0 ? Members : [.. Members, .. Subgroups.Select(SubgroupKey)];

    public static string SubgroupKey(string groupId) => "group:" + groupId;
}

/// <summary>
/// The source's state at one point: every account and group, and (for a SCIM source with a journal) the
/// journal position the snapshot is consistent with, so the feed can start exactly after it. Immutable:
/// the feed loop publishes a new snapshot per batch of changes while target workers plan from the one they
/// took; persistent dictionaries keep each change O(log n) instead of a copy of 100,000 accounts.
/// </summary>
public sealed class SourceSnapshot
{
    /// <summary>user id → the groups it is a direct member of; group id → the groups it is nested in.</summary>
    private readonly ImmutableDictionary<string, ImmutableList<string>> _groupsOfUser;
    private readonly ImmutableDictionary<string, ImmutableList<string>> _parentsOfGroup;
    private GroupHierarchy? _hierarchy;

    public ImmutableDictionary<string, SourceAccount> Users { get; }
    public ImmutableDictionary<string, SourceGroup> Groups { get; }
    public long? Position { get; }

    public SourceSnapshot(IEnumerable<SourceAccount> users, IEnumerable<SourceGroup> groups, long? position)
        : this(users.ToImmutableDictionary(u => u.Id, StringComparer.Ordinal), groups.ToImmutableDictionary(g => g.Id, StringComparer.Ordinal), null, null, position)
    {
    }

    private SourceSnapshot(ImmutableDictionary<string, SourceAccount> users, ImmutableDictionary<string, SourceGroup> groups,
        ImmutableDictionary<string, ImmutableList<string>>? groupsOfUser, ImmutableDictionary<string, ImmutableList<string>>? parentsOfGroup, long? position)
    {
        Users = users;
        Groups = groups;
        Position = position;
        if (groupsOfUser is null || parentsOfGroup is null)
        {
            var byUser = ImmutableDictionary.CreateBuilder<string, ImmutableList<string>>(StringComparer.Ordinal);
            var byGroup = ImmutableDictionary.CreateBuilder<string, ImmutableList<string>>(StringComparer.Ordinal);
            foreach (var g in groups.Values)
            {
                foreach (var m in g.Members) byUser[m] = (byUser.GetValueOrDefault(m) ?? []).Add(g.Id);
                foreach (var s in g.Subgroups) byGroup[s] = (byGroup.GetValueOrDefault(s) ?? []).Add(g.Id);
            }
            groupsOfUser = byUser.ToImmutable();
            parentsOfGroup = byGroup.ToImmutable();
        }
        _groupsOfUser = groupsOfUser;
        _parentsOfGroup = parentsOfGroup;
    }

    /// <summary>The nesting of this snapshot's groups.</summary>
    public GroupHierarchy Hierarchy => _hierarchy ??= new GroupHierarchy(
        id => Groups.TryGetValue(id, out var g) ? g.Subgroups : [],
        id => _parentsOfGroup.GetValueOrDefault(id) ?? []);

    /// <summary>The groups a user is a direct member of.</summary>
    public IReadOnlyList<string> DirectGroupIdsOf(string userId) => _groupsOfUser.GetValueOrDefault(userId) ?? [];

    /// <summary>The groups a user is a member of, directly or through nesting (scope follows nesting).</summary>
    public IReadOnlySet<string> GroupIdsOf(string userId) =>
        _groupsOfUser.TryGetValue(userId, out var direct) ? Hierarchy.Upward(direct) : new HashSet<string>();

    /// <summary>The display names of <see cref="GroupIdsOf"/>: what <c>scope.groups</c> names.</summary>
    public IReadOnlyList<string> GroupNamesOf(string userId) =>
        GroupIdsOf(userId).Select(id => Groups.GetValueOrDefault(id)?.DisplayName).OfType<string>().Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>The users of a group, directly or through nesting (a cycle's groups all reach one another's).</summary>
    public IReadOnlySet<string> UsersUnder(string groupId) =>
        Hierarchy.Expand(groupId, id => Groups.TryGetValue(id, out var g) ? g.Members : [], _ => false).Users;

    /// <summary>A new snapshot with some accounts and groups replaced or removed (incremental changes).</summary>
    public SourceSnapshot With(IEnumerable<SourceAccount> upsertUsers, IEnumerable<string> deletedUsers,
        IEnumerable<SourceGroup> upsertGroups, IEnumerable<string> deletedGroups, long? position)
    {
        var users = Users.RemoveRange(deletedUsers).SetItems(upsertUsers.Select(u => KeyValuePair.Create(u.Id, u)));
        var groups = Groups;
        var byUser = _groupsOfUser;
        var byGroup = _parentsOfGroup;
        static ImmutableDictionary<string, ImmutableList<string>> Remove(ImmutableDictionary<string, ImmutableList<string>> index, string key, string value)
        {
            if (!index.TryGetValue(key, out var list)) return index;
            var rest = list.Remove(value);
            return rest.Count > 0 ? index.SetItem(key, rest) : index.Remove(key);
        }
        static ImmutableDictionary<string, ImmutableList<string>> Add(ImmutableDictionary<string, ImmutableList<string>> index, string key, string value) =>
            index.SetItem(key, (index.GetValueOrDefault(key) ?? []).Add(value));
        void Unindex(SourceGroup g)
        {
            foreach (var m in g.Members) byUser = Remove(byUser, m, g.Id);
            foreach (var s in g.Subgroups) byGroup = Remove(byGroup, s, g.Id);
        }
        foreach (var d in deletedGroups)
            if (groups.TryGetValue(d, out var old))
            {
                Unindex(old);
                groups = groups.Remove(d);
            }
        foreach (var g in upsertGroups)
        {
            if (groups.TryGetValue(g.Id, out var old)) Unindex(old);
            groups = groups.SetItem(g.Id, g);
            foreach (var m in g.Members) byUser = Add(byUser, m, g.Id);
            foreach (var s in g.Subgroups) byGroup = Add(byGroup, s, g.Id);
        }
        return new SourceSnapshot(users, groups, byUser, byGroup, position ?? Position);
    }
}
