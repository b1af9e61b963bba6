namespace ScimSync.Client;

/// <summary>
/// A call that failed for good: a status that is never retried, or retries exhausted. Status, scimType
/// and detail come from the SCIM error body (RFC 7644 §3.12) when the service provider sent one.
/// <see cref="Status"/> is 0 when no HTTP response was received (connection failure or timeout).
/// </summary>
public sealed class ScimClientException : Exception
{
    public ScimClientException(int status, string? scimType, string? detail, Exception? inner = null)
        : base(Describe(status, scimType, detail), inner)
    {
        Status = status;
        ScimType = scimType;
        Detail = detail;
    }

    public ScimClientException()
        : this(0, null, null)
    {
    }

    public ScimClientException(string message)
        : this(0, null, message)
    {
    }

    public ScimClientException(string message, Exception inner)
        : this(0, null, message, inner)
    {
    }

    public int Status { get; }

    public string? ScimType { get; }

    public string? Detail { get; }

    private static string Describe(int status, string? scimType, string? detail)
    {
        var head = status == 0 ? "SCIM request failed without a response" : $"SCIM request failed with {status}";
        if (scimType is not null) head += $" ({scimType})";
        return detail is null ? head : $"{head}: {detail}";
    }
}
