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
        var obj = node as JsonObject ?? throw ScimException.InvalidSyntax("The request body must be a JSON object");
        Materialize(obj);
        return obj;
    }

    /// <summary>
    /// JsonNode decodes lazily: duplicate member names, invalid UTF-8 and lone surrogate escapes would
    /// otherwise surface deep inside request handling (even half-way through a Bulk request). Touching
    /// every member and string once, here, turns them into one clean 400 before anything runs.
    /// </summary>
    private static void Materialize(JsonNode node)
    {
        try
        {
            Walk(node);
        }
        catch (ArgumentException e) when (e.Message.Contains("same key", StringComparison.Ordinal))
        {
            var key = e.Message[(e.Message.LastIndexOf(':') + 1)..].Trim();
            throw ScimException.InvalidSyntax($"The request body repeats the member \"{key}\"");
        }
        catch (InvalidOperationException)
        {
            throw ScimException.InvalidSyntax("The request body contains a string that is not valid Unicode (invalid UTF-8 or an unpaired surrogate escape)");
        }

        static void Walk(JsonNode? n)
        {
            switch (n)
            {
                case JsonObject o:
                    foreach (var (key, value) in o)
                    {
                        if (!IsValidUnicode(key)) throw new InvalidOperationException("member name");
                        Walk(value);
                    }
                    break;
                case JsonArray a:
                    foreach (var item in a) Walk(item);
                    break;
                case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                    if (!IsValidUnicode(v.GetValue<string>())) throw new InvalidOperationException("string");
                    break;
            }
        }
    }

    private static bool IsValidUnicode(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (!char.IsSurrogate(s[i])) continue;
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            return false;
        }
        return true;
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
