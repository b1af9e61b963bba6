using System.Net;
using System.Text.Json.Nodes;

namespace ScimSync.Client.Transport;

/// <summary>One logical call; the pipeline may send it several times, so the body is kept as bytes.</summary>
/// <param name="ToServiceProvider">
/// False for the OAuth token endpoint: it is another server, so the service provider's rate limit,
/// concurrency slots and credentials do not apply to it.
/// </param>
internal sealed record ScimRequest(
    HttpMethod Method,
    Uri Uri,
    ReadOnlyMemory<byte>? Body = null,
    string ContentType = ScimMedia.Scim,
    string? IfMatch = null,
    string? Authorization = null,
    bool ToServiceProvider = true);

/// <summary>The final answer to a call: a success or a status the pipeline does not retry (any more).</summary>
/// <param name="Json">The body parsed as JSON, or null when it is empty or not JSON.</param>
/// <param name="Text">The raw body when it is not JSON (for error messages).</param>
internal sealed record ScimResponse(HttpStatusCode Status, JsonNode? Json, string? Text, string? ETag, long? JournalPosition)
{
    public bool IsSuccess => (int)Status is >= 200 and < 300;
}

internal static class ScimMedia
{
    public const string Scim = "application/scim+json";
    public const string Json = "application/json";
    public const string Form = "application/x-www-form-urlencoded";

    /// <summary>Our own servers report the journal position a list is consistent with (see docs/journal.md).</summary>
    public const string JournalPositionHeader = "ScimSync-Journal-Position";
}

/// <summary>Why the client waited; reported to tests through <see cref="ScimPipeline.WaitObserver"/>.</summary>
internal enum WaitReason
{
    /// <summary>The service provider's Retry-After.</summary>
    RetryAfter,
    /// <summary>Exponential backoff after a failure without Retry-After.</summary>
    Backoff,
    /// <summary>The client's own token bucket.</summary>
    RateLimit,
    /// <summary>Another call was told to back off; every call holds off until then.</summary>
    Pause,
}
