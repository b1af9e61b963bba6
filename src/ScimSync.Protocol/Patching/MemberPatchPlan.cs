using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Messages;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Patching;

/// <summary>
/// Splits a Group PatchOp into membership steps that the store applies row by row, and the remaining
/// operations for the patch engine. This is what keeps adding one member to a 50,000-member group from
/// reading or rewriting the other 49,999. Operations the steps cannot express exactly (a filter on
/// display, a sub-attribute path) make <see cref="RequiresFullMembers"/> true, and the whole request then
/// runs through the patch engine with the member list loaded: slower, but never different. The sync engine
/// applies the same steps to its copy of a source group's member ids, from the PatchOp of a prov:patch:full event.
/// </summary>
public sealed record MemberPatchPlan(IReadOnlyList<PatchOperation> Others, IReadOnlyList<MemberStep> Steps, bool RequiresFullMembers)
{
    public static MemberPatchPlan For(PatchRequest request)
    {
        var others = new List<PatchOperation>();
        var steps = new List<MemberStep>();
        foreach (var op in request.Operations)
        {
            if (op.Path is null)
            {
                // Keys name attributes as paths do: "members", or "urn:…:core:2.0:Group:members" fully qualified.
                var memberKeys = op.Value is JsonObject obj
                    ? obj.Where(kv => AttributePath.TryParse(kv.Key) is { } p && IsMembers(p)).ToList()
                    : [];
                if (memberKeys.Count == 0)
                {
                    others.Add(op);
                    continue;
                }
                if (memberKeys.Any(kv => AttributePath.TryParse(kv.Key)!.SubAttribute is not null))
                    return new MemberPatchPlan(request.Operations, [], true);
                foreach (var (_, members) in memberKeys)
                {
                    if (op.Op == PatchOperationType.Replace) steps.Add(new ClearMembers());
                    steps.Add(new AddMembers(ParseMembers(members)));
                }
                var rest = (JsonObject)op.Value!.DeepClone();
                foreach (var (key, _) in memberKeys) rest.Remove(key);
                if (rest.Count > 0) others.Add(op with { Value = rest });
                continue;
            }
            if (!IsMembers(op.Path.Attribute))
            {
                others.Add(op);
                continue;
            }
            if (op.Path.SubAttribute is not null || op.Path.Attribute.SubAttribute is not null)
                return new MemberPatchPlan(request.Operations, [], true);
            switch (op.Op)
            {
                case PatchOperationType.Add when op.Path.ValueFilter is null:
                    steps.Add(new AddMembers(ParseMembers(op.Value)));
                    break;
                case PatchOperationType.Replace when op.Path.ValueFilter is null:
                    steps.Add(new ClearMembers());
                    steps.Add(new AddMembers(ParseMembers(op.Value)));
                    break;
                case PatchOperationType.Remove when op.Path.ValueFilter is null && op.Value is null:
                    steps.Add(new ClearMembers());
                    break;
                case PatchOperationType.Remove when op.Path.ValueFilter is null:
                    // Entra ID / Salesforce: {"op":"remove","path":"members","value":[{"value":"id"}]} removes
                    // the listed members (the same value-as-filter rule the patch engine applies).
                    steps.Add(new RemoveMembers(ParseMembers(op.Value).Select(m => m.Value).ToArray()));
                    break;
                case PatchOperationType.Remove when ValueEqualities(op.Path.ValueFilter!) is { } ids:
                    steps.Add(new RemoveMembers(ids));
                    break;
                default:
                    return new MemberPatchPlan(request.Operations, [], true);
            }
        }
        return new MemberPatchPlan(others, steps, false);
    }

    private static bool IsMembers(AttributePath p) =>
        p.Name.Equals("members", StringComparison.OrdinalIgnoreCase)
        && (p.SchemaUrn is null || p.SchemaUrn.Equals(ScimSchemaUris.Group, StringComparison.OrdinalIgnoreCase));

    /// <summary><c>value eq "a"</c>, or several of them joined by <c>or</c>; null for anything else.</summary>
    private static IReadOnlyList<string>? ValueEqualities(ScimFilter f) => f switch
    {
        ComparisonFilter { Operator: ComparisonOperator.Eq, Value.Kind: FilterValueKind.String } c
            when c.Path.SchemaUrn is null && c.Path.SubAttribute is null && c.Path.Name.Equals("value", StringComparison.OrdinalIgnoreCase)
            => [c.Value.Text!],
        OrFilter o when ValueEqualities(o.Left) is { } l && ValueEqualities(o.Right) is { } r => [.. l, .. r],
        _ => null,
    };

    public static IReadOnlyList<RequestedMember> ParseMembers(JsonNode? value)
    {
        if (value is null) return [];
        var items = value is JsonArray arr ? arr.ToArray() : [value];
        var list = new List<RequestedMember>(items.Length);
        foreach (var item in items)
        {
            if (item is null) continue;
            if (item is not JsonObject o)
                throw ScimException.InvalidValue("Each value of \"members\" must be an object with a \"value\"");
            string? id = null, type = null, display = null;
            foreach (var (k, v) in o)
            {
                var text = v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : null;
                if (v is not null && text is null && !k.Equals("primary", StringComparison.OrdinalIgnoreCase))
                    throw ScimException.InvalidValue($"members.{k} must be a string");
                switch (k.ToLowerInvariant())
                {
                    case "value": id = text; break;
                    case "type": type = text; break;
                    case "display": display = text; break;
                    case "$ref": break; // derived from value and type
                    default: throw ScimException.InvalidSyntax($"Unknown sub-attribute \"{k}\" in \"members\"");
                }
            }
            if (string.IsNullOrEmpty(id)) throw ScimException.InvalidValue("A member needs a \"value\" (the member's id)");
            list.Add(new RequestedMember(id, type, display));
        }
        return list;
    }
}

public sealed record RequestedMember(string Value, string? Type, string? Display);

public abstract record MemberStep;

public sealed record AddMembers(IReadOnlyList<RequestedMember> Members) : MemberStep;

public sealed record RemoveMembers(IReadOnlyList<string> Ids) : MemberStep;

public sealed record ClearMembers : MemberStep;
