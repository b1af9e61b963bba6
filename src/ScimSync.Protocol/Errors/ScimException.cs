namespace ScimSync.Protocol.Errors;

/// <summary>
/// A failure that the protocol defines: it carries the HTTP status and <c>scimType</c> the client gets.
/// Anything else that escapes a request is a bug and is reported as a bare 500 without details.
/// </summary>
public sealed class ScimException : Exception
{
    public ScimException(int status, string? scimType, string detail) : base(detail)
    {
        Status = status;
        ScimType = scimType;
    }

    public int Status { get; }
    public string? ScimType { get; }
    public string Detail => Message;

    public static ScimException BadRequest(string scimType, string detail) => new(400, scimType, detail);
    public static ScimException InvalidFilter(string detail) => new(400, ScimErrorType.InvalidFilter, detail);
    public static ScimException InvalidPath(string detail) => new(400, ScimErrorType.InvalidPath, detail);
    public static ScimException InvalidValue(string detail) => new(400, ScimErrorType.InvalidValue, detail);
    public static ScimException InvalidSyntax(string detail) => new(400, ScimErrorType.InvalidSyntax, detail);
    public static ScimException Mutability(string detail) => new(400, ScimErrorType.Mutability, detail);
    public static ScimException NoTarget(string detail) => new(400, ScimErrorType.NoTarget, detail);
    public static ScimException Uniqueness(string detail) => new(409, ScimErrorType.Uniqueness, detail);
    public static ScimException NotFound(string detail) => new(404, null, detail);
    public static ScimException PreconditionFailed(string detail) => new(412, null, detail);
    public static ScimException Conflict(string detail) => new(409, null, detail);
    public static ScimException NotImplemented(string detail) => new(501, null, detail);
    public static ScimException TooLarge(string detail) => new(413, null, detail);
}
