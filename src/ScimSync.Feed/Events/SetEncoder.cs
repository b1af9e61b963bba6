using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace ScimSync.Feed.Events;

/// <summary>Encodes events as RFC 8417 Security Event Tokens (compact JWS) and validates them on receipt.</summary>
public sealed class SetEncoder(TimeProvider time)
{
    /// <summary>RFC 8417 §2.3: the explicit type that keeps a SET from being mistaken for an access or ID token.</summary>
    public const string TokenType = "secevent+jwt";

    // Same escaping as the HTTP API: a SET is base64url-encoded, so HTML-safe escaping only makes payloads
    // longer and harder to read ("W/\u00221\u0022").
    private static readonly JsonSerializerOptions PayloadOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// A compact JWS with header typ "secevent+jwt" and kid, and claims iss, iat (now), jti, aud, txn, sub_id,
    /// events. Never "sub" (RFC 9967 §2.1 puts the subject in sub_id) and never "exp" (RFC 8417 §2.2: a SET
    /// states a fact, it does not expire). <paramref name="jti"/> is the caller's: unique within the feed, and
    /// kept across retransmissions so that receivers can deduplicate (RFC 8935, RFC 8936).
    /// </summary>
    public string Encode(ScimEvent e, string jti, string issuer, IReadOnlyList<string> audience, SigningKey key)
    {
        ArgumentNullException.ThrowIfNull(e);
        ArgumentException.ThrowIfNullOrWhiteSpace(jti);
        ArgumentException.ThrowIfNullOrWhiteSpace(issuer);
        ArgumentNullException.ThrowIfNull(audience);
        ArgumentNullException.ThrowIfNull(key);
        if (!SigningKey.IsSupported(key.Algorithm))
            throw new ArgumentException($"Unsupported SET signing algorithm '{key.Algorithm}'", nameof(key));

        var json = Payload(e, jti, issuer, audience, time.GetUtcNow().ToUnixTimeSeconds());
        // HS256, every feed's default, is signed here: going through IdentityModel built a key, a crypto
        // provider and a signer per SET, which was a third of fan-out's time. RS256/ES256 stay with the library.
        if (key.Algorithm == SigningKey.HS256) return SignHs256(json, key);
        var handler = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false };
        var header = new Dictionary<string, object> { [JwtHeaderParameterNames.Typ] = TokenType };
        if (key.Algorithm == SigningKey.None)
            return handler.CreateToken(Encoding.UTF8.GetString(json), header);
        var (securityKey, owner) = key.CreateSecurityKey();
        using (owner)
            // kid comes from the key; IdentityModel writes it into the header.
            return handler.CreateToken(Encoding.UTF8.GetString(json), new SigningCredentials(securityKey, key.Algorithm), header);
    }

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = PayloadOptions.Encoder };

    /// <summary>
    /// Our private claim (RFC 7519 §4.3, collision-resistant by its URN): the change's journal position, which
    /// receivers that do not know it ignore. The sync engine tags its logs and traces with it.
    /// </summary>
    public const string JournalPositionClaim = "urn:scimsync:params:event:journalPosition";

    /// <summary>The claims as UTF-8 JSON, written straight from the event's nodes (no copies of them).</summary>
    private static byte[] Payload(ScimEvent e, string jti, string issuer, IReadOnlyList<string> audience, long iat)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("iss", issuer);
            w.WriteNumber("iat", iat);
            w.WriteString("jti", jti);
            // aud is RECOMMENDED, not required (RFC 8417 §2.2): a feed without receivers named gets none rather
            // than an empty array no receiver could match.
            if (audience.Count > 0)
            {
                w.WriteStartArray("aud");
                foreach (var a in audience) w.WriteStringValue(a);
                w.WriteEndArray();
            }
            w.WriteString("txn", e.Txn);
            if (e.JournalPosition > 0) w.WriteNumber(JournalPositionClaim, e.JournalPosition);
            w.WritePropertyName("sub_id");
            e.SubId.WriteTo(w, PayloadOptions);
            w.WritePropertyName("events");
            e.Events.WriteTo(w, PayloadOptions);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>RFC 7515 compact serialization with HMAC SHA-256 (RFC 7518 §3.2).</summary>
    private static string SignHs256(byte[] payload, SigningKey key)
    {
        var secret = key.Secret ?? throw new InvalidOperationException($"HS256 key '{key.KeyId}' has no secret");
        var header = new JsonObject { ["alg"] = SigningKey.HS256, ["kid"] = key.KeyId, ["typ"] = TokenType }.ToJsonString(PayloadOptions);
        var signingInput = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(header)) + "." + Base64Url.EncodeToString(payload);
        var mac = System.Security.Cryptography.HMACSHA256.HashData(secret, Encoding.ASCII.GetBytes(signingInput));
        return signingInput + "." + Base64Url.EncodeToString(mac);
    }

    /// <summary>
    /// Checks a received SET the way RFC 8935 §2 asks before acknowledging it: well-formed, typed, signed with
    /// <paramref name="key"/> (or explicitly unsigned when the key is "none"), from <paramref name="issuer"/>,
    /// for <paramref name="audience"/>. Returns the claims; throws <see cref="SetValidationException"/> with an
    /// RFC 8935 error code otherwise.
    /// </summary>
    public static JsonObject Validate(string token, SigningKey key, string issuer, string audience)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrWhiteSpace(issuer);
        ArgumentException.ThrowIfNullOrWhiteSpace(audience);
        JsonWebToken jwt;
        try
        {
            jwt = new JsonWebToken(token);
        }
        catch (Exception ex) when (ex is ArgumentException or SecurityTokenMalformedException or JsonException or FormatException)
        {
            throw new SetValidationException("invalid_request", "The SET is not a compact JWS");
        }
        if (jwt.IsEncrypted)
            throw new SetValidationException("invalid_request", "Encrypted SETs are not accepted");
        // RFC 7515 §4.1.9: typ is a media type, so compared case-insensitively, with or without "application/".
        var typ = jwt.Typ ?? "";
        if (!typ.Equals(TokenType, StringComparison.OrdinalIgnoreCase) && !typ.Equals("application/" + TokenType, StringComparison.OrdinalIgnoreCase))
            throw new SetValidationException("invalid_request", $"The JWS typ is '{typ}', not '{TokenType}'");
        // Checked here, not left to the library: the key decides the algorithm, never the token (no "alg":"none"
        // downgrade of a signed feed, no signed token slipping through a feed that agreed on none).
        if (!string.Equals(jwt.Alg, key.Algorithm, StringComparison.Ordinal))
            throw new SetValidationException("invalid_key", $"The SET uses alg '{jwt.Alg}', the subscription '{key.Algorithm}'");
        if (key.Algorithm == SigningKey.None && jwt.EncodedSignature.Length > 0)
            throw new SetValidationException("invalid_key", "An unsigned SET must have an empty signature");

        var parameters = new TokenValidationParameters
        {
            ValidIssuer = issuer,
            ValidAudience = audience,
            IgnoreTrailingSlashWhenValidatingAudience = false,
            // A SET has no exp (RFC 8417 §2.2), so there is no lifetime to check.
            RequireExpirationTime = false,
            ValidateLifetime = false,
            RequireSignedTokens = key.Algorithm != SigningKey.None,
            ValidAlgorithms = key.Algorithm == SigningKey.None ? null : [key.Algorithm],
        };
        var (securityKey, owner) = key.Algorithm == SigningKey.None ? (null, null) : key.CreateSecurityKey();
        TokenValidationResult result;
        using (owner)
        {
            parameters.IssuerSigningKey = securityKey;
            // ValidateToken is obsolete; the async form completes synchronously when, as here, no key has to be
            // fetched from a metadata endpoint.
            result = new JsonWebTokenHandler().ValidateTokenAsync(jwt, parameters).GetAwaiter().GetResult();
        }
        if (!result.IsValid)
            throw result.Exception switch
            {
                SecurityTokenInvalidIssuerException => new SetValidationException("invalid_issuer", $"The SET was not issued by '{issuer}'"),
                SecurityTokenInvalidAudienceException => new SetValidationException("invalid_audience", $"The SET is not addressed to '{audience}'"),
                SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException or SecurityTokenInvalidAlgorithmException
                    => new SetValidationException("invalid_key", "The SET signature does not verify with the subscription's key"),
                _ => new SetValidationException("invalid_request", "The SET could not be validated"),
            };

        var claims = JsonNode.Parse(Encoding.UTF8.GetString(Base64Url.DecodeFromChars(jwt.EncodedPayload))) as JsonObject
            ?? throw new SetValidationException("invalid_request", "The SET payload is not a JSON object");
        // RFC 8417 §2.2: jti, iat and events are REQUIRED in every SET.
        if (claims["events"] is not JsonObject)
            throw new SetValidationException("invalid_request", "The SET has no events object");
        if (claims["jti"] is not JsonValue jti || !jti.TryGetValue<string>(out _))
            throw new SetValidationException("invalid_request", "The SET has no jti");
        if (claims["iat"] is not JsonValue iat || !iat.TryGetValue<long>(out _))
            throw new SetValidationException("invalid_request", "The SET has no iat");
        return claims;
    }
}
