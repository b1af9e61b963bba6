using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Messages;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Resources;
using ScimSync.Store.Resources;

namespace ScimSync.Server.Bulk;

/// <summary>
/// A Bulk answer (RFC 7644 §3.7.3): each operation's result in request order. The resource a successful User
/// write returns is written straight from the store into the answer, as a GET writes it; it used to be written,
/// parsed back into a tree and written again, for each of up to a thousand operations.
/// </summary>
public sealed class BulkResponse
{
    /// <summary>The resource an operation's <c>response</c> holds, as stored.</summary>
    public sealed record Body(StoredResource Resource, ResourceTypeDefinition Type);

    private readonly IReadOnlyList<(JsonObject Head, Body? Body)> _results;
    private readonly ResourceRenderer _renderer;
    private readonly string _baseUrl;

    internal BulkResponse(IReadOnlyList<(JsonObject Head, Body? Body)> results, ResourceRenderer renderer, string baseUrl)
    {
        _results = results;
        _renderer = renderer;
        _baseUrl = baseUrl;
    }

    public void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartArray("schemas");
        w.WriteStringValue(ScimSchemaUris.BulkResponse);
        w.WriteEndArray();
        w.WriteStartArray("Operations");
        foreach (var (head, body) in _results)
        {
            w.WriteStartObject();
            foreach (var (name, value) in head)
            {
                w.WritePropertyName(name);
                if (value is null) w.WriteNullValue();
                else value.WriteTo(w);
            }
            if (body is not null)
            {
                w.WritePropertyName("response");
                _renderer.Write(w, body.Resource, body.Type, _baseUrl, AttributeSelection.Default);
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
