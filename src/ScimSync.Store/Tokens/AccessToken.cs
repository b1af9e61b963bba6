namespace ScimSync.Store.Tokens;

/// <summary>A bearer token as stored: only a hash of the secret is kept.</summary>
public sealed record AccessToken(
    string Id,
    string Name,
    string Hash,
    IReadOnlyList<string> Scopes,
    string? UserId,
    DateTimeOffset Created,
    DateTimeOffset? Expires,
    DateTimeOffset? Revoked);
