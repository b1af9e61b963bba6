using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Messages;

namespace ScimSync.Server.Http;

/// <summary>Reading requests and writing responses in SCIM's media type and error format.</summary>
public static class ScimHttp
{
    public const string MediaType = "application/scim+json; charset=utf-8";

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 32, AllowTrailingCommas = false };

    /// <summary>The SCIM base URI for this request, e.g. "http://127.0.0.1:8080/scim/v2".</summary>
    public static string BaseUrl(HttpContext ctx, ScimServerOptions options) =>
        options.PublicBaseUrl ?? $"{ctx.Request.Scheme}://{ctx.Request.Host}{ctx.Request.PathBase}/scim/v2";

    /// <summary>
    /// Reads a JSON object body. Malformed JSON, nesting deeper than 32 levels or a body that is not an
    /// object is 400 invalidSyntax; a body over the size limit is 413 (raised by Kestrel).
    /// </summary>
    public static async Task<JsonObject> ReadObjectAsync(HttpContext ctx, CancellationToken ct)
    {
        JsonNode? node;
        try
        {
            using var ms = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(ms, ct).ConfigureAwait(false);
            if (ms.Length == 0) throw ScimException.InvalidSyntax("The request body is empty; a JSON object is required");
            node = JsonNode.Parse(ms.GetBuffer().AsSpan(0, (int)ms.Length), documentOptions: DocumentOptions);
        }
        catch (JsonException e)
        {
            throw ScimException.InvalidSyntax($"The request body is not valid JSON: {Sanitize(e.Message)}");
        }
        return node as JsonObject ?? throw ScimException.InvalidSyntax("The request body must be a JSON object");
    }

    /// <summary>System.Text.Json messages name .NET types and paths; keep only the client-meaningful part.</summary>
    private static string Sanitize(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        var m = cut > 0 ? message[..cut] : message;
        return m.Replace("System.Text.Json.Nodes.", "", StringComparison.Ordinal);
    }

    public static async Task WriteJsonAsync(HttpContext ctx, int status, Action<Utf8JsonWriter> write)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = MediaType;
        var writer = new Utf8JsonWriter(ctx.Response.BodyWriter, new JsonWriterOptions { SkipValidation = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        await using (writer.ConfigureAwait(false))
        {
            write(writer);
            await writer.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
        }
    }

    public static Task WriteNodeAsync(HttpContext ctx, int status, JsonNode node) => WriteJsonAsync(ctx, status, w => node.WriteTo(w));

    public static JsonObject ErrorBody(int status, string? scimType, string detail)
    {
        var o = new JsonObject
        {
            ["schemas"] = new JsonArray(ScimSchemaUris.Error),
            ["status"] = status.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (scimType is not null) o["scimType"] = scimType;
        o["detail"] = detail;
        return o;
    }

    public static Task WriteErrorAsync(HttpContext ctx, int status, string? scimType, string detail)
    {
        if (ctx.Response.HasStarted) return Task.CompletedTask;
        ctx.Response.Headers.ETag = default;
        ctx.Response.Headers.Location = default;
        return WriteNodeAsync(ctx, status, ErrorBody(status, scimType, detail));
    }

    public static Task WriteErrorAsync(HttpContext ctx, ScimException e) => WriteErrorAsync(ctx, e.Status, e.ScimType, e.Detail);
}
