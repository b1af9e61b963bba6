using System.Text.Json.Nodes;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Execution;

/// <summary>
/// What an operation changes on an account, attribute by attribute, with the value before (the shadow, as the
/// engine last saw the account) and the value sent, for the provisioning log. Complex attributes are compared
/// by their sub-attributes (<c>name.givenName</c>), so that a new given name is one line, not the whole name
/// twice; multi-valued ones (<c>emails</c>) as a whole. Secret values are replaced here, before anything is stored.
/// </summary>
public static class AttributeChanges
{
    /// <param name="before">The account as the shadow holds it, for updates and deactivations (null: unknown or none).</param>
    public static IReadOnlyList<AttributeChange> Of(PlannedOperation op, JsonObject? before, SecretAttributes secrets)
    {
        var changes = new List<AttributeChange>();
        switch (op)
        {
            case CreateAccount c:
                return OfCreate(c.Document, secrets);
            case UpdateAccount u:
                foreach (var patch in u.Operations)
                {
                    if (patch["path"] is not JsonValue p || !p.TryGetValue<string>(out var text)) continue;
                    var path = MappedPath.Parse(text);
                    var sent = string.Equals(patch["op"]?.GetValue<string>(), "remove", StringComparison.OrdinalIgnoreCase) ? null : patch["value"];
                    Compare(path.ToString(), before is null ? null : path.Read(before), sent, changes);
                }
                break;
            case DeactivateAccount:
                // The target's copy may say "True" (a string): whatever it said, the account was on and now is off.
                changes.Add(new AttributeChange("active", before?["active"] ?? JsonValue.Create(true), JsonValue.Create(false)));
                break;
        }
        return Redacted(changes, secrets);
    }

    /// <summary>What a create sets: every attribute of its <paramref name="document"/> (parsed once by the caller, who also sends it).</summary>
    public static IReadOnlyList<AttributeChange> OfCreate(JsonObject document, SecretAttributes secrets)
    {
        var changes = new List<AttributeChange>(document.Count + 4);
        foreach (var (name, value) in document)
            if (name is not ("schemas" or "id" or "meta"))
                Compare(name, null, value, changes, container: name.StartsWith("urn:", StringComparison.OrdinalIgnoreCase));
        return Redacted(changes, secrets);
    }

    private static List<AttributeChange> Redacted(List<AttributeChange> changes, SecretAttributes secrets)
    {
        for (var i = 0; i < changes.Count; i++)
            if (secrets.IsSecret(changes[i].Path))
                changes[i] = changes[i] with { Old = secrets.Redact(changes[i].Path, changes[i].Old), New = secrets.Redact(changes[i].Path, changes[i].New) };
        return changes;
    }

    /// <param name="container">
    /// <paramref name="path"/> is an extension's container (<c>urn:…:enterprise:2.0:User</c>): its attributes follow
    /// after a colon, as SCIM writes them (<c>urn:…:User:department</c>); sub-attributes after a dot.
    /// </param>
    private static void Compare(string path, JsonNode? old, JsonNode? sent, List<AttributeChange> changes, bool container = false)
    {
        // Objects (a complex attribute, or an extension's container) are compared member by member.
        if (old is JsonObject || sent is JsonObject)
        {
            var o = old as JsonObject;
            var n = sent as JsonObject;
            if ((old is not null && o is null) || (sent is not null && n is null))
            {
                Add(path, old, sent, changes);
                return;
            }
            var separator = container ? ":" : ".";
            var names = new List<string>();
            foreach (var (k, _) in n ?? []) names.Add(k);
            foreach (var (k, _) in o ?? [])
                if (!names.Contains(k, StringComparer.OrdinalIgnoreCase)) names.Add(k);
            foreach (var name in names)
                Compare(path + separator + name, Member(o, name), Member(n, name), changes);
            return;
        }
        Add(path, old, sent, changes);
    }

    private static void Add(string path, JsonNode? old, JsonNode? sent, List<AttributeChange> changes)
    {
        // As the planner compares (AccountDiff): "True" and true, 1 and 1.0 are the same value.
        if (AccountDiff.Covers(sent, old) && AccountDiff.Covers(old, sent)) return;
        // The values stay in their documents (no copies): a change is only read, and written to the log as it is.
        changes.Add(new AttributeChange(path, old, sent));
    }

    private static JsonNode? Member(JsonObject? o, string name)
    {
        if (o is null) return null;
        if (o.TryGetPropertyValue(name, out var exact)) return exact;
        foreach (var (k, v) in o)
            if (k.Equals(name, StringComparison.OrdinalIgnoreCase)) return v;
        return null;
    }
}
