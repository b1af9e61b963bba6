using System.Text.Json.Nodes;

namespace ScimSync.Protocol.Filtering;

/// <summary>Evaluates a bound filter against a resource's full JSON representation.</summary>
public static class FilterEvaluator
{
    public static bool Matches(BoundFilter filter, JsonObject resource) => throw new NotImplementedException();
}
