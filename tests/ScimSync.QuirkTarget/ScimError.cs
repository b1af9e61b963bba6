using System.Text.Json.Nodes;

namespace ScimSync.QuirkTarget;

/// <summary>A SCIM error (RFC 7644 §3.12) thrown anywhere in request handling and written by the endpoint.</summary>
public sealed class ScimError(int status, string? scimType, string detail) : Exception(detail)
{
    public int Status { get; } = status;
    public string? ScimType { get; } = scimType;

    public JsonObject ToJson()
    {
        var body = new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:Error"),
            ["status"] = Status.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["detail"] = Message,
        };
        if (ScimType is not null) body["scimType"] = ScimType;
        return body;
    }

    public static ScimError NotFound(string type, string id) => new(404, null, $"{type} {id} not found");
    public static ScimError BadRequest(string scimType, string detail) => new(400, scimType, detail);
}
