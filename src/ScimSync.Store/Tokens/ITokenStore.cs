namespace ScimSync.Store.Tokens;

public interface ITokenStore
{
    Task AddAsync(AccessToken token, CancellationToken ct);
    Task<AccessToken?> FindByHashAsync(string hash, CancellationToken ct);
    Task<IReadOnlyList<AccessToken>> ListAsync(CancellationToken ct);
    /// <summary>Returns false when no token has that id or name.</summary>
    Task<bool> RevokeAsync(string idOrName, DateTimeOffset when, CancellationToken ct);
    /// <summary>Revokes every active token that holds <paramref name="scope"/>; returns how many.</summary>
    Task<int> RevokeByScopeAsync(string scope, DateTimeOffset when, CancellationToken ct);
}
