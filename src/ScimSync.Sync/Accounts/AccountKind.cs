using System.Globalization;
using System.Text.Json.Nodes;

namespace ScimSync.Sync.Accounts;

/// <summary>
/// What an account is, which decides how the engine may treat it (DESIGN.md section 1). Builtin and
/// service accounts are never modified or deleted on a target; customers belong to the application.
/// </summary>
public enum AccountKind { Unknown, Employee, Contractor, Agent, Customer, Service, Builtin }

/// <summary>
/// Reads the kind and the end date of an account: from the ScimSync account extension
/// (<see cref="ExtensionUri"/>: <c>kind</c>, <c>endDate</c>) when present, otherwise from <c>userType</c>
/// through the configured table (e.g. "Contractor" → contractor).
/// </summary>
public sealed record AccountKindRules(IReadOnlyDictionary<string, AccountKind> UserTypes, string? EndDateAttribute)
{
    public const string ExtensionUri = "urn:scimsync:params:scim:schemas:extension:account:2.0:User";

    public static AccountKindRules Default { get; } = new(new Dictionary<string, AccountKind>(StringComparer.OrdinalIgnoreCase)
    {
        ["Employee"] = AccountKind.Employee,
        ["Contractor"] = AccountKind.Contractor,
        ["Agent"] = AccountKind.Agent,
        ["Customer"] = AccountKind.Customer,
        ["Service"] = AccountKind.Service,
        ["Builtin"] = AccountKind.Builtin,
    }, null);

    public AccountKind KindOf(JsonObject user)
    {
        if (user[ExtensionUri] is JsonObject ext && ext["kind"] is JsonValue k && k.TryGetValue<string>(out var kind)
            && !kind.Contains(',', StringComparison.Ordinal) && Enum.TryParse<AccountKind>(kind, ignoreCase: true, out var parsed)
            && Enum.IsDefined(parsed) && !int.TryParse(kind, out _))
            return parsed;
        if (user["userType"] is JsonValue t && t.TryGetValue<string>(out var userType) && UserTypes.TryGetValue(userType, out var mapped))
            return mapped;
        return AccountKind.Unknown;
    }

    /// <summary>The instant a contractor's access ends, if the account carries one.</summary>
    public DateTimeOffset? EndDateOf(JsonObject user)
    {
        JsonNode? node = user[ExtensionUri] is JsonObject ext ? ext["endDate"] : null;
        if (node is null && EndDateAttribute is not null) node = MappedPath.Parse(EndDateAttribute).Read(user);
        return node is JsonValue v && v.TryGetValue<string>(out var text)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when) ? when : null;
    }

    /// <summary>Active unless <c>active</c> is false (a string "false" too: some systems send one).</summary>
    public static bool IsActive(JsonObject document) => document["active"] switch
    {
        JsonValue v when v.TryGetValue<bool>(out var b) => b,
        JsonValue v when v.TryGetValue<string>(out var s) => !string.Equals(s, "false", StringComparison.OrdinalIgnoreCase),
        _ => true,
    };

    public static bool IsProtectedKind(AccountKind kind) => kind is AccountKind.Builtin or AccountKind.Service;
}
