using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ScimSync.Client.Transport;

/// <summary>
/// OAuth 2.0 client credentials (RFC 6749 §4.4): one token at a time, shared by all calls, fetched by one
/// caller while the others wait, and replaced shortly before it expires or when the service provider
/// rejects it.
/// </summary>
internal sealed class AccessTokenCache(
    ScimAuth.OAuth2ClientCredentials auth,
    Func<ScimRequest, CancellationToken, Task<ScimResponse>> send,
    TimeProvider time,
    ScimClientStats stats) : IDisposable
{
    /// <summary>Without expires_in the token is kept this long; a 401 replaces it sooner.</summary>
    private static readonly TimeSpan DefaultLifetime = TimeSpan.FromHours(1);

    private sealed record Token(string Value, DateTimeOffset RefreshAt);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private Token? _current;

    public async Task<string> GetAsync(CancellationToken ct)
    {
        var current = Volatile.Read(ref _current);
        if (current is not null && time.GetUtcNow() < current.RefreshAt) return current.Value;
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            current = Volatile.Read(ref _current);
            if (current is not null && time.GetUtcNow() < current.RefreshAt) return current.Value;
            var fresh = await FetchAsync(ct).ConfigureAwait(false);
            Volatile.Write(ref _current, fresh);
            return fresh.Value;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Forgets the token that was just rejected, unless another call has already replaced it.</summary>
    public void Invalidate(string? authorizationHeader)
    {
        var current = Volatile.Read(ref _current);
        if (current is not null && authorizationHeader == "Bearer " + current.Value)
            Interlocked.CompareExchange(ref _current, null, current);
    }

    private async Task<Token> FetchAsync(CancellationToken ct)
    {
        var form = new StringBuilder("grant_type=client_credentials");
        if (!string.IsNullOrWhiteSpace(auth.Scope)) form.Append("&scope=").Append(Uri.EscapeDataString(auth.Scope));
        // RFC 6749 §2.3.1: the credentials are form-encoded before they are joined for HTTP Basic.
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes(FormEncode(auth.ClientId) + ":" + FormEncode(auth.ClientSecret)));
        var response = await send(new ScimRequest(HttpMethod.Post, auth.TokenEndpoint, Encoding.UTF8.GetBytes(form.ToString()),
            ScimMedia.Form, Authorization: "Basic " + basic, ToServiceProvider: false), ct).ConfigureAwait(false);
        var obtained = time.GetUtcNow();
        var body = response.Json as JsonObject;
        if (!response.IsSuccess)
        {
            stats.Failure();
            // RFC 6749 §5.2 error body: error, error_description.
            throw new ScimClientException((int)response.Status, Text(body?["error"]),
                $"The token endpoint refused the client credentials: {Text(body?["error_description"]) ?? Text(body?["error"]) ?? response.Text ?? response.Status.ToString()}");
        }
        var token = Text(body?["access_token"]);
        if (string.IsNullOrEmpty(token))
        {
            stats.Failure();
            throw new ScimClientException((int)response.Status, null, "The token endpoint answered without an access_token");
        }
        if (Text(body?["token_type"]) is { } type && !type.Equals("bearer", StringComparison.OrdinalIgnoreCase))
        {
            stats.Failure();
            throw new ScimClientException((int)response.Status, null, $"The token endpoint issued a \"{type}\" token; only bearer tokens are supported");
        }
        // Capped at a day: a token is fetched again at least that often, and a huge expires_in cannot overflow.
        var lifetime = Seconds(body?["expires_in"]) is { } s ? TimeSpan.FromSeconds(Math.Clamp(s, 0, 86_400)) : DefaultLifetime;
        // Refresh a little early so a token does not expire between being read and being checked.
        var margin = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(60).Ticks, lifetime.Ticks / 10));
        return new Token(token, obtained + lifetime - margin);
    }

    private static string FormEncode(string s) => Uri.EscapeDataString(s).Replace("%20", "+", StringComparison.Ordinal);

    private static string? Text(JsonNode? n) => n is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    /// <summary>expires_in is a number, but some servers send it as a string.</summary>
    private static long? Seconds(JsonNode? n)
    {
        if (n is not JsonValue v) return null;
        if (v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var l)) return l > 0 ? l : null;
        if (v.GetValueKind() == JsonValueKind.String && long.TryParse(v.GetValue<string>(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var p)) return p > 0 ? p : null;
        return null;
    }

    public void Dispose() => _gate.Dispose();
}
