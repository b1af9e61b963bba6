namespace ScimSync.Client;

/// <summary>How the client authenticates to the service provider.</summary>
public abstract record ScimAuth
{
    private ScimAuth()
    {
    }

    /// <summary>A static bearer token (RFC 6750), e.g. one issued by `scimsync token create`.</summary>
    public sealed record Bearer(string Token) : ScimAuth
    {
        public override string ToString() => "Bearer(***)";
    }

    /// <summary>HTTP Basic (RFC 7617); some appliances still only offer this.</summary>
    public sealed record Basic(string User, string Password) : ScimAuth
    {
        public override string ToString() => $"Basic({User}, ***)";
    }

    /// <summary>
    /// OAuth 2.0 client credentials (RFC 6749 §4.4). The client authenticates to the token endpoint with
    /// HTTP Basic (§2.3.1, the method every authorization server must support) and caches the access token
    /// until shortly before <c>expires_in</c>, or until the service provider answers 401.
    /// </summary>
    public sealed record OAuth2ClientCredentials(Uri TokenEndpoint, string ClientId, string ClientSecret, string? Scope) : ScimAuth
    {
        public override string ToString() => $"OAuth2ClientCredentials({TokenEndpoint}, {ClientId}, ***, {Scope})";
    }
}
