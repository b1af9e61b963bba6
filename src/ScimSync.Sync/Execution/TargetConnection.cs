using Microsoft.Extensions.Logging;
using ScimSync.Client;
using ScimSync.Sync.Configuration;

namespace ScimSync.Sync.Execution;

/// <summary>Creates SCIM clients from endpoint settings.</summary>
public static class Connections
{
    /// <param name="maxUnansweredRetries">
    /// For targets: how often a call that got no answer is retried before it fails (the engine then probes
    /// the target instead of letting every call back off on its own). Null: the client's default.
    /// </param>
    /// <param name="name">What the client's log entries call the endpoint: the target's name, or "source".</param>
    public static ScimClient Open(EndpointConfig endpoint, string name, TimeProvider time, HttpMessageHandler? handler = null, int? maxUnansweredRetries = null,
        ILogger? logger = null) => new(new ScimClientOptions
    {
        Name = name,
        MaxUnansweredRetries = maxUnansweredRetries,
        BaseUri = endpoint.Url,
        Auth = endpoint.Auth switch
        {
            null => null,
            { Type: AuthType.Bearer } a => new ScimAuth.Bearer(a.Token!),
            { Type: AuthType.Basic } a => new ScimAuth.Basic(a.User!, a.Password!),
            var a => new ScimAuth.OAuth2ClientCredentials(a.TokenUrl!, a.ClientId!, a.ClientSecret!, a.Scope),
        },
        MaxPageSize = endpoint.Limits.MaxPageSize,
        MaxResponseBytes = (long)endpoint.Limits.MaxResponseMiB << 20,
        MaxListResources = endpoint.Limits.MaxListResources,
        MaxListPages = endpoint.Limits.MaxListPages,
        MaxRequestsPerSecond = endpoint.Limits.MaxRequestsPerSecond,
        Concurrency = endpoint.Limits.Concurrency,
        UsePutForUpdates = endpoint.Dialect.UsePut,
        DisableBulk = endpoint.Dialect.DisableBulk,
        DisableCursor = endpoint.Dialect.DisableCursor,
    }, handler, time, logger);
}
