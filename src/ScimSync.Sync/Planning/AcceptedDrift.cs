using System.Text.Json.Nodes;

namespace ScimSync.Sync.Planning;

/// <summary>
/// Out-of-band edits a person accepted on one target (the operator console's "accept"): for an account and an
/// attribute, the value the mapping wanted when it was accepted and the value the target kept. The planner leaves
/// the target's value in place while both still hold: the source still wants what it wanted then (the mapping's
/// value is unchanged), and the target still holds what was accepted. When the source's value changes, the new
/// value is written as usual; when the target's value changes again, that is drift again. An exception that no
/// longer holds is simply ignored, so it never needs to be cleaned up for the plan to be right.
/// </summary>
/// <remarks>
/// Kept as one small JSON document per target in the engine's checkpoints (<see cref="CheckpointKey"/>): accepted
/// exceptions are few, and every plan of the target (a full run, watch mode's batches, provisioning on demand, the
/// person inquiry) reads them the same way. Only edited attributes are accepted: a deactivation or reactivation at
/// the target is access, which follows the source.
/// </remarks>
public sealed class AcceptedDrift
{
    /// <summary>One accepted attribute: what the mapping wanted then, and what the target kept.</summary>
    public sealed record Entry(JsonNode? Wanted, JsonNode? Kept);

    private readonly Dictionary<string, Dictionary<string, Entry>> _accounts;

    private AcceptedDrift(Dictionary<string, Dictionary<string, Entry>> accounts) => _accounts = accounts;

    public static AcceptedDrift None { get; } = new(new Dictionary<string, Dictionary<string, Entry>>(StringComparer.Ordinal));

    /// <summary>The checkpoint that holds a target's accepted edits.</summary>
    public static string CheckpointKey(string target) => "drift.accepted:" + target;

    public int Count => _accounts.Count;

    /// <summary>The accepted attributes of one account (by path), or null.</summary>
    public IReadOnlyDictionary<string, Entry>? Of(string targetId) => _accounts.GetValueOrDefault(targetId);

    public static AcceptedDrift Parse(string? json)
    {
        if (string.IsNullOrEmpty(json) || JsonNode.Parse(json) is not JsonObject root) return None;
        var accounts = new Dictionary<string, Dictionary<string, Entry>>(StringComparer.Ordinal);
        foreach (var (id, paths) in root)
        {
            if (paths is not JsonObject p) continue;
            accounts[id] = p.Where(kv => kv.Value is JsonObject).ToDictionary(kv => kv.Key,
                kv => new Entry(kv.Value!["wanted"]?.DeepClone(), kv.Value!["kept"]?.DeepClone()), StringComparer.OrdinalIgnoreCase);
        }
        return new AcceptedDrift(accounts);
    }

    public string ToJson()
    {
        var root = new JsonObject();
        foreach (var (id, paths) in _accounts)
            root[id] = new JsonObject(paths.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonObject { ["wanted"] = kv.Value.Wanted?.DeepClone(), ["kept"] = kv.Value.Kept?.DeepClone() })));
        return root.ToJsonString();
    }

    /// <summary>A copy with the account's accepted attributes replaced by <paramref name="entries"/> (none: forgotten).</summary>
    public AcceptedDrift With(string targetId, IReadOnlyDictionary<string, Entry>? entries)
    {
        var copy = new Dictionary<string, Dictionary<string, Entry>>(_accounts, StringComparer.Ordinal);
        if (entries is null || entries.Count == 0) copy.Remove(targetId);
        else copy[targetId] = new Dictionary<string, Entry>(entries, StringComparer.OrdinalIgnoreCase);
        return new AcceptedDrift(copy);
    }

    /// <summary>
    /// Puts the target's value into <paramref name="want"/> for each accepted attribute of the account that still holds,
    /// so that neither the PATCH nor the replacement document changes it.
    /// </summary>
    public void Keep(string targetId, JsonObject want, JsonObject actual, IReadOnlyList<MappedPath> managed)
    {
        if (!_accounts.TryGetValue(targetId, out var entries)) return;
        foreach (var path in managed)
            if (entries.TryGetValue(path.ToString(), out var e) && Holds(e, path.Read(want), path.Read(actual)))
                path.Write(want, path.Read(actual)?.DeepClone());
    }

    /// <summary>The source still wants what it wanted when the edit was accepted, and the target still holds what was accepted.</summary>
    public static bool Holds(Entry e, JsonNode? want, JsonNode? have) => Same(e.Wanted, want) && Same(e.Kept, have);

    private static bool Same(JsonNode? a, JsonNode? b) => AccountDiff.Covers(a, b) && AccountDiff.Covers(b, a);
}
