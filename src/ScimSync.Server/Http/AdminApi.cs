using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ScimSync.Protocol.Errors;
using ScimSync.Server.Security;
using ScimSync.Store.Tokens;

namespace ScimSync.Server.Http;

/// <summary>
/// Bearer tokens over HTTP under /admin/tokens (admin scope), the same operations as `scimsync token`:
/// list (never a secret or hash), create (the secret is shown once), revoke (effective on the next request).
/// </summary>
public sealed class AdminApi(TokenService tokens, TimeProvider time, RequestLimits limits)
{
    private static void RequireAdmin(HttpContext ctx)
    {
        if (!ScimApi.Caller(ctx).Has(Scopes.Admin)) throw new ScimException(403, null, "This token lacks the \"admin\" scope");
    }

    public async Task ListTokens(HttpContext ctx)
    {
        RequireAdmin(ctx);
        var now = time.GetUtcNow();
        var list = new JsonArray();
        foreach (var t in await tokens.ListAsync(ctx.RequestAborted).ConfigureAwait(false)) list.Add(View(t, now));
        await ScimHttp.WriteNodeAsync(ctx, 200, new JsonObject { ["tokens"] = list }).ConfigureAwait(false);
    }

    /// <summary>
    /// Body: <c>{"name": "...", "scopes": ["scim:read", ...], "userId": "...", "expiresDays": 90}</c>; scopes
    /// default to scim:read and scim:write; unknown scopes are refused.
    /// </summary>
    public async Task CreateToken(HttpContext ctx)
    {
        RequireAdmin(ctx);
        var body = await ScimHttp.ReadObjectAsync(ctx, limits.Admin, ctx.RequestAborted).ConfigureAwait(false);
        var name = body["name"] is JsonValue n && n.TryGetValue<string>(out var text) && text.Length > 0 ? text : throw ScimException.InvalidValue("name is required");
        IReadOnlyList<string> scopes = body["scopes"] switch
        {
            null => [Scopes.Read, Scopes.Write],
            JsonArray a when a.All(x => x is JsonValue v && v.TryGetValue<string>(out _)) => a.Select(x => x!.GetValue<string>()).ToArray(),
            _ => throw ScimException.InvalidValue("scopes must be an array of strings"),
        };
        var userId = body["userId"] is JsonValue u && u.TryGetValue<string>(out var uid) ? uid : null;
        DateTimeOffset? expires = body["expiresDays"] is JsonValue d && d.TryGetValue<int>(out var days) && days is > 0 and <= 3650
            ? time.GetUtcNow().AddDays(days)
            : body["expiresDays"] is null ? null : throw ScimException.InvalidValue("expiresDays must be a whole number from 1 to 3650");
        try
        {
            var (secret, token) = await tokens.CreateAsync(name, scopes, userId, expires, ctx.RequestAborted).ConfigureAwait(false);
            var view = View(token, time.GetUtcNow());
            view["secret"] = secret;
            ctx.Response.Headers.Location = $"/admin/tokens/{token.Id}";
            await ScimHttp.WriteNodeAsync(ctx, 201, view).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            throw ScimException.InvalidValue(e.Message);
        }
        catch (InvalidOperationException e)
        {
            throw ScimException.Uniqueness(e.Message);
        }
    }

    public async Task RevokeToken(HttpContext ctx, string idOrName)
    {
        RequireAdmin(ctx);
        if (!await tokens.RevokeAsync(idOrName, ctx.RequestAborted).ConfigureAwait(false))
            throw ScimException.NotFound($"No active token \"{idOrName}\"");
        ctx.Response.StatusCode = 204;
    }

    private static JsonObject View(AccessToken t, DateTimeOffset now) => new()
    {
        ["id"] = t.Id,
        ["name"] = t.Name,
        ["scopes"] = new JsonArray(t.Scopes.Select(s => (JsonNode)JsonValue.Create(s)).ToArray()),
        ["userId"] = t.UserId,
        ["created"] = t.Created.ToString("O", CultureInfo.InvariantCulture),
        ["expires"] = t.Expires?.ToString("O", CultureInfo.InvariantCulture),
        ["revoked"] = t.Revoked?.ToString("O", CultureInfo.InvariantCulture),
        ["state"] = t.Revoked is not null ? "revoked" : t.Expires is { } e && e <= now ? "expired" : "active",
    };
}
