using ScimSync.Protocol.Schemas;

namespace ScimSync.Server.Http;

/// <summary>
/// What one request body may cost: its size on the wire and how many JSON values it holds. Both are
/// checked before anything is built from the body, because a JSON value becomes an object in memory: an
/// array of zeros is two bytes a value on the wire and about a hundred in a DOM, so a size limit alone
/// would still let a 16 MiB body cost a gigabyte.
/// </summary>
/// <param name="What">Names the route's kind of body in error details ("a poll request").</param>
public sealed record BodyLimit(string What, long MaxBytes)
{
    /// <summary>Deepest nesting accepted; SCIM documents need four or five levels.</summary>
    public const int MaxDepth = 32;

    /// <summary>
    /// One JSON value (string, number, literal, object or array; member names not counted) per 16 bytes of
    /// the size limit, at least 1,024. Real SCIM bodies stay well under it (a group member
    /// <c>{"value":"&lt;uuid&gt;"}</c> is 24 bytes a value), while a body of tiny values is refused long
    /// before it could make the server hold more than a small multiple of the limit.
    /// </summary>
    public long MaxValues => Math.Max(1024, MaxBytes / 16);
}

/// <summary>
/// The body limit of every route that reads one, built from <see cref="ScimServerOptions"/>: each endpoint
/// names its limit where it reads its body (<see cref="ScimHttp.ReadObjectAsync"/>), so a new endpoint cannot
/// forget to choose one. docs/compliance.md ("Limits") lists them with their defaults.
/// </summary>
public sealed class RequestLimits(ScimServerOptions options)
{
    /// <summary>RFC 8936 poll: acknowledgements and error reports for at most a poll's worth of events.</summary>
    public BodyLimit Poll { get; } = new("a poll request", options.MaxPollRequestBytes);

    /// <summary>Subscription administration under /feeds/v1 (create, update, rewind).</summary>
    public BodyLimit Feed { get; } = new("a subscription request", options.MaxFeedRequestBytes);

    /// <summary>Token administration under /admin/tokens: a name, a few scopes. Shares the feed administration limit.</summary>
    public BodyLimit Admin { get; } = new("a token request", options.MaxFeedRequestBytes);

    /// <summary>POST .search: a filter (at most 8,192 characters) and attribute lists.</summary>
    public BodyLimit Search { get; } = new("a search request", options.MaxSearchRequestBytes);

    /// <summary>/Bulk: the advertised <c>bulk.maxPayloadSize</c>.</summary>
    public BodyLimit Bulk { get; } = new("a bulk request (bulk.maxPayloadSize)", options.BulkMaxPayloadBytes);

    private readonly BodyLimit _resource = new("a resource", options.MaxResourceBytes);
    private readonly BodyLimit _group = new("a Group request", Math.Max(options.MaxResourceBytes, options.MaxGroupRequestBytes));

    /// <summary>POST, PUT and PATCH of one resource. Groups get more room: they carry their member list.</summary>
    public BodyLimit ForResource(ResourceTypeDefinition rt) => rt.Name == "Group" ? _group : _resource;

    /// <summary>Kestrel's limit for a route that reads no body: a body sent there is never buffered.</summary>
    public const long NoBodyBytes = 64 * 1024;
}
