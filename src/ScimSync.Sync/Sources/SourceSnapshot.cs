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

public sealed record SourceGroup(string Id, string DisplayName, IReadOnlyList<string> Members)
{
    /// <summary>The group's version as last read or derived, to recognise replayed events.</summary>
    public long? Version { get; init; }
}

/// <summary>
/// The source's state at one point: every account and group, and (for a SCIM source with a journal) the
/// journal position the snapshot is consistent with, so the feed can start exactly after it. Immutable:
/// the feed loop publishes a new snapshot per batch of changes while target workers plan from the one they
/// took; persistent dictionaries keep each change O(log n) instead of a copy of 100,000 accounts.
/// </summary>
public sealed class SourceSnapshot
{
    private readonly ImmutableDictionary<string, ImmutableList<string>> _groupNamesByMember;

    public ImmutableDictionary<string, SourceAccount> Users { get; }
    public ImmutableDictionary<string, SourceGroup> Groups { get; }
    public long? Position { get; }

    public SourceSnapshot(IEnumerable<SourceAccount> users, IEnumerable<SourceGroup> groups, long? position)
        : this(users.ToImmutableDictionary(u => u.Id, StringComparer.Ordinal), groups.ToImmutableDictionary(g => g.Id, StringComparer.Ordinal), null, position)
    {
    }

    private SourceSnapshot(ImmutableDictionary<string, SourceAccount> users, ImmutableDictionary<string, SourceGroup> groups,
        ImmutableDictionary<string, ImmutableList<string>>? index, long? position)
    {
        Users = users;
        Groups = groups;
        Position = position;
        if (index is null)
        {
            var builder = ImmutableDictionary.CreateBuilder<string, ImmutableList<string>>(StringComparer.Ordinal);
            foreach (var g in groups.Values)
                foreach (var m in g.Members)
                    builder[m] = (builder.GetValueOrDefault(m) ?? []).Add(g.DisplayName);
            index = builder.ToImmutable();
        }
        _groupNamesByMember = index;
    }

    public IReadOnlyList<string> GroupNamesOf(string userId) => _groupNamesByMember.GetValueOrDefault(userId) ?? [];

    /// <summary>A new snapshot with some accounts and groups replaced or removed (incremental changes).</summary>
    public SourceSnapshot With(IEnumerable<SourceAccount> upsertUsers, IEnumerable<string> deletedUsers,
        IEnumerable<SourceGroup> upsertGroups, IEnumerable<string> deletedGroups, long? position)
    {
        var users = Users.RemoveRange(deletedUsers).SetItems(upsertUsers.Select(u => KeyValuePair.Create(u.Id, u)));
        var groups = Groups;
        var index = _groupNamesByMember;
        void Unindex(SourceGroup g)
        {
            foreach (var m in g.Members)
                if (index.TryGetValue(m, out var names))
                    index = names.Remove(g.DisplayName) is { Count: > 0 } rest ? index.SetItem(m, rest) : index.Remove(m);
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
            foreach (var m in g.Members) index = index.SetItem(m, (index.GetValueOrDefault(m) ?? []).Add(g.DisplayName));
        }
        return new SourceSnapshot(users, groups, index, position ?? Position);
    }
}
