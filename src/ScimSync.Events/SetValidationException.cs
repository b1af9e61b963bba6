namespace ScimSync.Events;

/// <summary>
/// A SET that a receiver must refuse. <see cref="Err"/> is an RFC 8935 §2.4 error code
/// ("invalid_request", "invalid_key", "invalid_issuer", "invalid_audience"), ready for the
/// <c>{"err","description"}</c> body of a push response or the <c>setErrs</c> member of a poll.
/// </summary>
public sealed class SetValidationException(string err, string description) : Exception(description)
{
    public string Err { get; } = err;
}
