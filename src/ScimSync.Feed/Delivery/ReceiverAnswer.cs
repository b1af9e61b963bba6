using System.Text;
using System.Text.Json;

namespace ScimSync.Feed.Delivery;

/// <summary>
/// What a push receiver answered, as far as <see cref="PushClient"/> read it: the status, and at most the
/// answer cap of its body (<see cref="Truncated"/> when there was more). The receiver is not trusted: every
/// reading below turns an answer of the wrong shape into a reason, never an exception.
/// </summary>
public sealed record ReceiverAnswer(int Status, string? ReasonPhrase, TimeSpan? RetryAfter, string? ContentEncoding, byte[] Body, bool Truncated)
{
    // Error bodies are a few fields deep; deeper JSON is not an error body.
    private static readonly JsonDocumentOptions Json = new() { MaxDepth = 8 };

    public bool IsSuccess => Status is >= 200 and < 300;

    /// <summary>
    /// Why the receiver refused with 400: RFC 8935 §2.4's <c>{"err": "…", "description": "…"}</c> as
    /// "err: description", or what was wrong with the answer (not yet clamped: <see cref="FailureReason"/>).
    /// </summary>
    public string RefusalReason()
    {
        if (Unreadable() is { } why) return why;
        try
        {
            using var doc = JsonDocument.Parse(Body, Json);
            if (Describe(doc.RootElement) is { } error) return error;
        }
        catch (JsonException)
        {
        }
        return Body.Length == 0 ? "no RFC 8935 error in the answer" : "not an RFC 8935 error: " + Prefix();
    }

    /// <summary>
    /// The answer to a batch (our extension, docs/journal.md): the SETs named in <c>setErrs</c> with their
    /// reasons, none when the body has no <c>setErrs</c> (the whole batch is accepted), or with
    /// <see cref="BatchVerdict.Unreadable"/> set when the body could not be read whole or <c>setErrs</c> is
    /// not an object: then nobody knows which SETs were accepted, and the batch is retried.
    /// </summary>
    public BatchVerdict SetErrors()
    {
        if (Unreadable() is { } why) return new BatchVerdict(Rejected, why);
        if (Body.Length == 0) return new BatchVerdict(Rejected, null);
        try
        {
            using var doc = JsonDocument.Parse(Body, Json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("setErrs", out var errs))
                return new BatchVerdict(Rejected, null);
            if (errs.ValueKind != JsonValueKind.Object)
                return new BatchVerdict(Rejected, "setErrs in the answer is not an object");
            var rejected = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var e in errs.EnumerateObject())
                rejected[e.Name] = Describe(e.Value) ?? "not an RFC 8935 error: " + e.Value.GetRawText();
            return new BatchVerdict(rejected, null);
        }
        catch (JsonException)
        {
            // Not JSON: no setErrs, so the 2xx accepts the batch, as documented.
            return new BatchVerdict(Rejected, null);
        }
    }

    private static readonly IReadOnlyDictionary<string, string> Rejected = new Dictionary<string, string>();

    public sealed record BatchVerdict(IReadOnlyDictionary<string, string> Rejected, string? Unreadable);

    /// <summary>Why the body cannot be taken at its word: cut at the cap, or encoded (never decoded here).</summary>
    private string? Unreadable()
    {
        if (ContentEncoding is { Length: > 0 } enc && !enc.Equals("identity", StringComparison.OrdinalIgnoreCase))
            return $"answer with Content-Encoding {enc}, not decoded";
        if (Truncated) return $"answer longer than {Body.Length:N0} bytes, read no further: {Prefix()}";
        return null;
    }

    /// <summary>
    /// <c>{"err": "…", "description": "…"}</c> (RFC 8935 §2.4, and each entry of RFC 8936 setErrs) as
    /// "err: description"; null when <paramref name="e"/> is not of that shape.
    /// </summary>
    private static string? Describe(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("err", out var err) || err.ValueKind != JsonValueKind.String) return null;
        var text = err.GetString()!;
        if (e.TryGetProperty("description", out var d))
            text += d.ValueKind == JsonValueKind.String ? ": " + d.GetString() : " (description is not a string)";
        return text;
    }

    private string Prefix() => Encoding.UTF8.GetString(Body, 0, Math.Min(Body.Length, 200));
}
