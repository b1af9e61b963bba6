using System.Text.Json.Nodes;

namespace ScimSync.Client.Bulk;

/// <summary>
/// One operation of a Bulk request (RFC 7644 §3.7). Every operation carries a <paramref name="BulkId"/>, not only
/// POSTs: the answer is matched to the request by it, since a service provider need not keep the order.
/// </summary>
/// <param name="Path">Relative to the SCIM root, e.g. "/Users", "/Groups/{id}" or "/Groups/bulkId:g1" for a group created earlier in the same request.</param>
/// <param name="Data">The resource (POST, PUT) or the PatchOp message (PATCH); null for DELETE.</param>
public sealed record BulkOperation(string Method, string Path, string BulkId, JsonObject? Data, string? Version = null)
{
    /// <summary>The value that refers to the resource this operation creates, in a later operation of the same request.</summary>
    public string Reference => "bulkId:" + BulkId;
}

/// <summary>The service provider's answer to one operation.</summary>
/// <param name="Status">The HTTP status of the operation; 0 when the answer had no entry for it (not processed, or dropped).</param>
/// <param name="Id">The resource's id, from <c>location</c>'s last segment (or the response's <c>id</c>).</param>
/// <param name="Response">The body the service provider put in the answer, if any: a resource on success (rarely), a SCIM error on failure.</param>
public sealed record BulkResult(BulkOperation Operation, int Status, string? Location, string? Id, string? Version, JsonObject? Response)
{
    public bool IsSuccess => Status is >= 200 and < 300;

    /// <summary>The failure as a client exception (status, scimType, detail from the SCIM error in <c>response</c>).</summary>
    public ScimClientException Error()
    {
        string? Text(string name) => Response?[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        var detail = Text("detail") ?? (Status == 0 ? "the Bulk response has no entry for this operation" : $"{Status} in the Bulk response");
        return new ScimClientException(Status, Text("scimType"), detail);
    }

    /// <summary>The resource, when the answer carries one with an id (RFC 7644 lets a service provider leave it out).</summary>
    public JsonObject? Resource => IsSuccess && Response?["id"] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? Response : null;
}
