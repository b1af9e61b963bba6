using System.Text.Json.Nodes;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Mapping;

/// <summary>
/// One target attribute and where its value comes from: a source attribute path (<c>name.givenName</c>,
/// <c>urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department</c>) or a constant.
/// <c>id</c> as a source path means the source's own id (the usual <c>externalId</c> on targets).
/// </summary>
public sealed record AttributeMapping(string Target, string? Source, JsonNode? Constant)
{
    /// <summary>
    /// The value is a secret (a PIN, a recovery code): the provisioning log and <c>sync user</c> show "(secret)"
    /// instead (<see cref="SecretAttributes"/>); it is still sent to the target.
    /// </summary>
    public bool Secret { get; init; }

    /// <summary>What a target receives when its configuration lists no mapping: the portable core attributes.</summary>
    public static IReadOnlyList<AttributeMapping> Defaults { get; } =
    [
        new("userName", "userName", null),
        new("externalId", "id", null),
        new("name", "name", null),
        new("displayName", "displayName", null),
        new("emails", "emails", null),
        new("phoneNumbers", "phoneNumbers", null),
        new("title", "title", null),
        new("userType", "userType", null),
        new("preferredLanguage", "preferredLanguage", null),
    ];
}

/// <summary>Builds the account a target should hold for one source account.</summary>
public sealed class AccountMapper(IReadOnlyList<AttributeMapping> mappings)
{
    public const string UserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";

    public IReadOnlyList<AttributeMapping> Mappings => mappings;

    /// <summary>
    /// The desired target document. <c>active</c> is always managed: false when the source deactivated the
    /// account or its end date has passed, so expiry does not depend on a mapping being present.
    /// </summary>
    public JsonObject Map(SourceAccount account, DateTimeOffset now) => Map(account, account.Document, now);

    public JsonObject Map(SourceAccount account, JsonObject source, DateTimeOffset now)
    {
        var doc = new JsonObject();
        var schemas = new List<string> { UserSchema };
        foreach (var m in mappings)
        {
            var value = m.Constant?.DeepClone() ?? (m.Source == "id" ? JsonValue.Create(account.Id) : MappedPath.Parse(m.Source!).Read(source)?.DeepClone());
            if (value is null) continue;
            var path = MappedPath.Parse(m.Target);
            path.Write(doc, value);
            if (path.Schema.Length > 0 && !schemas.Contains(path.Schema, StringComparer.OrdinalIgnoreCase)) schemas.Add(path.Schema);
        }
        doc["active"] = account.ActiveAt(now);
        doc["schemas"] = new JsonArray(schemas.Select(s => (JsonNode)JsonValue.Create(s)).ToArray());
        return doc;
    }

    /// <summary>Top-level target attributes this mapping manages (what drift and updates look at).</summary>
    public IReadOnlyList<MappedPath> ManagedAttributes() =>
        mappings.Select(m => MappedPath.Parse(m.Target)).Select(p => p with { Path = p.Path.Split('.')[0] })
            .Append(new MappedPath("", "active")).Distinct().ToArray();
}
