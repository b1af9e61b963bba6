using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ScimSync.Protocol.Errors;
using ScimSync.Server.Http;
using ScimSync.Server.Security;

namespace ScimSync.Server.Hosting;

/// <summary>
/// Everything under /scim, /feeds and /admin: the version check, bearer authentication, and the translation of every failure
/// into a SCIM error body. Unexpected exceptions are logged with their stack trace and reach the client
/// as a bare 500 with a correlation id: no stack traces or SQL leave the server.
/// </summary>
internal static class ScimMiddleware
{
    public static async Task HandleAsync(HttpContext ctx, RequestDelegate next, TokenService tokens, ScimServerOptions options, RequestRateLimiter? limiter, ILogger logger,
        AuthFailureLog authFailures)
    {
        var path = ctx.Request.Path;
        var isScim = path.StartsWithSegments("/scim", out var rest);
        if (!isScim && !path.StartsWithSegments("/feeds") && !path.StartsWithSegments("/admin"))
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }
        try
        {
            // Before authentication: a limit is there to protect the server, so refusing must stay cheap.
            if (limiter is not null && !limiter.TryAcquire(out var wait))
            {
                var seconds = (int)wait.TotalSeconds;
                ctx.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                throw new ScimException(429, null, $"Too many requests: this server accepts {options.RateLimitPerSecond} per second; retry after {seconds} s");
            }
            if (isScim)
            {
                var segments = rest.Value?.Trim('/').Split('/', 2) ?? [];
                if (segments.Length == 0 || segments[0].Length == 0)
                    throw ScimException.NotFound("The SCIM root is /scim/v2");
                if (!segments[0].Equals("v2", StringComparison.OrdinalIgnoreCase))
                    throw ScimException.BadRequest(ScimErrorType.InvalidVers, $"SCIM version \"{segments[0]}\" is not supported; this server speaks v2 at /scim/v2");
            }

            var auth = ctx.Request.Headers.Authorization.ToString();
            if (!auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || auth.Length <= 7)
            {
                authFailures.Failed(ctx.Connection.RemoteIpAddress?.ToString(), ctx.Request.Method, path.Value ?? "", "no bearer token");
                ctx.Response.Headers.WWWAuthenticate = "Bearer realm=\"scimsync\"";
                throw new ScimException(401, null, "Authentication required: send Authorization: Bearer <token>");
            }
            var caller = await tokens.AuthenticateAsync(auth[7..].Trim(), ctx.RequestAborted).ConfigureAwait(false);
            if (caller is null)
            {
                authFailures.Failed(ctx.Connection.RemoteIpAddress?.ToString(), ctx.Request.Method, path.Value ?? "", "unknown, revoked or expired token");
                ctx.Response.Headers.WWWAuthenticate = "Bearer realm=\"scimsync\", error=\"invalid_token\"";
                throw new ScimException(401, null, "The bearer token is not valid (unknown, revoked or expired)");
            }
            ctx.Items[ScimApi.CallerKey] = caller;
            await next(ctx).ConfigureAwait(false);
            if (!ctx.Response.HasStarted && ctx.Response.StatusCode is 404 or 405 && ctx.Response.ContentType is null)
            {
                var detail = ctx.Response.StatusCode == 404
                    ? $"No SCIM endpoint at {path}"
                    : $"{ctx.Request.Method} is not supported on {path}";
                await ScimHttp.WriteErrorAsync(ctx, ctx.Response.StatusCode, null, detail).ConfigureAwait(false);
            }
        }
        catch (ScimException e)
        {
            // 503 means busy for now (the scan slots are taken): tell clients when to come back.
            if (e.Status == 503 && !ctx.Response.HasStarted) ctx.Response.Headers.RetryAfter = "1";
            await ScimHttp.WriteErrorAsync(ctx, e).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await ScimHttp.WriteErrorAsync(ctx, 413, null, "The request body is larger than this server accepts").ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            await ScimHttp.WriteErrorAsync(ctx, e.StatusCode, null, "The HTTP request is malformed").ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (Exception e)
        {
            var id = ctx.TraceIdentifier;
            ServerLog.Unexpected(logger, e, id, ctx.Request.Method, path.Value ?? "");
            await ScimHttp.WriteErrorAsync(ctx, 500, null, $"Internal error (id {id}); the server log has details").ConfigureAwait(false);
        }
    }
}
