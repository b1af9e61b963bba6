namespace ScimSync.Client;

/// <summary>Where the service provider is, how to authenticate, and how hard the client may push it.</summary>
public sealed record ScimClientOptions
{
    /// <summary>The SCIM root, e.g. http://127.0.0.1:8081/scim/v2/ (a missing trailing slash is added).</summary>
    public required Uri BaseUri { get; init; }

    public ScimAuth? Auth { get; init; }

    /// <summary>What logs call this service provider (a target's name, "source"); null: the URL's host and port.</summary>
    public string? Name { get; init; }

    /// <summary>
    /// Operator cap on page size. The size asked for is the smallest of this, the service provider's
    /// advertised maximum, and the size the caller requests.
    /// </summary>
    public int? MaxPageSize { get; init; }

    /// <summary>Steady request rate of a token bucket shared by every call of this client, retries included.</summary>
    public double? MaxRequestsPerSecond { get; init; }

    /// <summary>Most requests in flight at once.</summary>
    public int Concurrency { get; init; } = 4;

    /// <summary>Dialect switch: never send PATCH; <see cref="ScimClient.PatchAsync"/> reads, patches locally and PUTs.</summary>
    public bool UsePutForUpdates { get; init; }

    /// <summary>Dialect switch: report Bulk as unsupported whatever the service provider advertises.</summary>
    public bool DisableBulk { get; init; }

    /// <summary>Dialect switch: page by index even when the service provider advertises cursors.</summary>
    public bool DisableCursor { get; init; }

    /// <summary>Retries after the first attempt (so at most MaxRetries + 1 requests per call).</summary>
    public int MaxRetries { get; init; } = 8;

    /// <summary>
    /// Retries when there was no answer at all (connection refused or reset, a timeout, 502, 504), when
    /// fewer than <see cref="MaxRetries"/>: a caller that watches the service provider's health itself
    /// (the sync engine probes a target that went down) does not want every call to wait out its own
    /// backoff. Null: the same as <see cref="MaxRetries"/>.
    /// </summary>
    public int? MaxUnansweredRetries { get; init; }

    public TimeSpan BaseBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Time allowed for one attempt, response body included.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Largest response body read, in bytes, after decompression: a larger (or endless, or compressed to
    /// explode) answer fails its call instead of filling memory. A page of 1,000 users is a few megabytes.
    /// </summary>
    public long MaxResponseBytes { get; init; } = 64L << 20;

    /// <summary>Most resources one list walk may deliver before it fails (a listing that never ends).</summary>
    public long MaxListResources { get; init; } = 5_000_000;

    /// <summary>Most pages one list walk may request before it fails (endless empty or tiny pages).</summary>
    public int MaxListPages { get; init; } = 100_000;
}
