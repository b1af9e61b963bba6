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

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = BodyLimit.MaxDepth, AllowTrailingCommas = false };

    /// <summary>The SCIM base URI for this request, e.g. "http://127.0.0.1:8080/scim/v2".</summary>
    public static string BaseUrl(HttpContext ctx, ScimServerOptions options) =>
        options.PublicBaseUrl ?? $"{ctx.Request.Scheme}://{ctx.Request.Host}{ctx.Request.PathBase}/scim/v2";

    /// <summary>
    /// Reads a JSON object body within <paramref name="limit"/>. A body declared or found larger than the
    /// limit, or holding more JSON values than it allows, is 413 before any JSON node is built; malformed
    /// JSON, nesting deeper than <see cref="BodyLimit.MaxDepth"/> or a body that is not an object is 400
    /// invalidSyntax.
    /// </summary>
    public static async Task<JsonObject> ReadObjectAsync(HttpContext ctx, BodyLimit limit, CancellationToken ct)
    {
        var bytes = await ReadBodyAsync(ctx, limit, ct).ConfigureAwait(false);
        if (bytes.Length == 0) throw ScimException.InvalidSyntax("The request body is empty; a JSON object is required");
        JsonNode? node;
        try
        {
            CheckShape(bytes.Span, limit);
            node = JsonNode.Parse(bytes.Span, documentOptions: DocumentOptions);
        }
        catch (JsonException e)
        {
            throw ScimException.InvalidSyntax($"The request body is not valid JSON: {Sanitize(e.Message)}");
        }
        var obj = node as JsonObject ?? throw ScimException.InvalidSyntax("The request body must be a JSON object");
        Materialize(obj);
        return obj;
    }

    /// <summary>Largest refused body that is discarded rather than answered with a closed connection.</summary>
    private const long DrainBytes = 32 * 1024 * 1024;

    private static ScimException TooLarge(BodyLimit limit, string found) =>
        ScimException.TooLarge($"The request body {found}; {limit.What} may be at most {limit.MaxBytes} bytes holding at most {limit.MaxValues} JSON values");

    /// <summary>
    /// The body, refused as soon as it is known to exceed the limit: from Content-Length before reading, and
    /// while reading a body sent without one (Kestrel enforces the same limit, set here per request).
    /// </summary>
    private static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpContext ctx, BodyLimit limit, CancellationToken ct)
    {
        var feature = ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>();
        if (ctx.Request.ContentLength is { } declared && declared > limit.MaxBytes)
        {
            // Refused unread. A client that did not ask "Expect: 100-continue" is still sending; up to
            // DrainBytes Kestrel may discard the rest after the answer (its drain reads into a small buffer
            // and gives up after a few seconds), so that the client reads the 413 rather than a reset.
            if (feature is { IsReadOnly: false } && declared <= DrainBytes) feature.MaxRequestBodySize = declared;
            throw TooLarge(limit, $"is {declared} bytes");
        }
        if (feature is { IsReadOnly: false }) feature.MaxRequestBodySize = limit.MaxBytes;
        // Sized from Content-Length only up to 1 MiB: a client must send bytes, not just claim them, to
        // make the server hold more.
        using var ms = new MemoryStream((int)Math.Min(ctx.Request.ContentLength ?? 16 * 1024, Math.Min(limit.MaxBytes, 1024 * 1024)));
        // Pooled: a fresh 16 KB array per request was allocated and zeroed for a body of about 1 KB.
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int n;
            while ((n = await ctx.Request.Body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                if (ms.Length + n > limit.MaxBytes) throw TooLarge(limit, $"is over {limit.MaxBytes} bytes");
                ms.Write(buffer, 0, n);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(limit, $"is over {limit.MaxBytes} bytes");
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        return ms.GetBuffer().AsMemory(0, (int)ms.Length);
    }

    /// <summary>
    /// One pass of the allocation-free reader before the DOM is built: the body must open with an object,
    /// stay within the depth limit and hold at most <see cref="BodyLimit.MaxValues"/> values. An array of
    /// 16 MiB is refused at its first byte, a huge array inside an object after counting, never after
    /// building it.
    /// </summary>
    private static void CheckShape(ReadOnlySpan<byte> body, BodyLimit limit)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = BodyLimit.MaxDepth });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw ScimException.InvalidSyntax("The request body must be a JSON object");
        long values = 1;
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.PropertyName or JsonTokenType.EndObject or JsonTokenType.EndArray or JsonTokenType.Comment) continue;
            if (++values > limit.MaxValues) throw TooLarge(limit, $"holds more than {limit.MaxValues} JSON values");
        }
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
