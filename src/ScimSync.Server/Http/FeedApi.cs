using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ScimSync.Feed.Delivery;
using ScimSync.Feed.Passwords;
using ScimSync.Events;
using ScimSync.Feed.Subscriptions;
using ScimSync.Protocol.Errors;
using ScimSync.Server.Security;
using ScimSync.Store;

namespace ScimSync.Server.Http;

/// <summary>
/// The event feed's REST API under /feeds/v1: subscription management (admin scope) and RFC 8936 poll
/// delivery (the subscription's own poll token, or admin).
/// </summary>
public sealed class FeedApi(IResourceStore store, SubscriptionService subscriptions, PollService poll, PasswordPoll passwords, TokenService tokens, TimeProvider time, RequestLimits limits)
{
    private static void Require(HttpContext ctx, string scope)
    {
        if (!ScimApi.Caller(ctx).Has(scope)) throw new ScimException(403, null, $"This token lacks the \"{scope}\" scope");
    }

    private async Task<Subscription> Find(string id, CancellationToken ct) =>
        await subscriptions.FindAsync(id, ct).ConfigureAwait(false) ?? throw ScimException.NotFound($"No subscription \"{id}\"");

    /// <summary>
    /// A subscription for a caller that may only see its own (a poll token). Any other id gets one answer,
    /// 403, before anything is looked up: whether that subscription exists is not the caller's to learn.
    /// </summary>
    private async Task<Subscription> FindOwn(HttpContext ctx, string id)
    {
        var caller = ScimApi.Caller(ctx);
        var allowed = caller.Has(Scopes.Admin) || id.Length > 0 && id.All(char.IsAsciiLetterOrDigit) && caller.Has(Scopes.Feed(id));
        if (!allowed) throw new ScimException(403, null, "This token may use only its own subscription");
        return await Find(id, ctx.RequestAborted).ConfigureAwait(false);
    }

    public async Task Create(HttpContext ctx)
    {
        Require(ctx, Scopes.Admin);
        var body = await ScimHttp.ReadObjectAsync(ctx, limits.Feed, ctx.RequestAborted).ConfigureAwait(false);
        var name = body["name"]?.GetValue<string>() ?? throw ScimException.InvalidValue("name is required");
        long? startAfter = body["startAfter"] is JsonValue sa && sa.TryGetValue<long>(out var p) ? p : null;
        var config = ReadConfig(body, null);
        var s = await subscriptions.CreateAsync(name, config, startAfter, ctx.RequestAborted).ConfigureAwait(false);
        var view = await View(s, ctx.RequestAborted).ConfigureAwait(false);
        // Shown once, at creation, like any token secret: the HS256 key, and a bearer token that can poll
        // (and acknowledge) this subscription and nothing else.
        if (s.Key.Algorithm == "HS256") view["secret"] = Convert.ToBase64String(s.Key.Secret!);
        var (pollToken, _) = await tokens.CreatePollTokenAsync($"feed-{s.Name}-{s.Id[..8]}", s.Id, ctx.RequestAborted).ConfigureAwait(false);
        view["pollToken"] = pollToken;
        ctx.Response.Headers.Location = $"/feeds/v1/subscriptions/{s.Id}";
        await ScimHttp.WriteNodeAsync(ctx, 201, view).ConfigureAwait(false);
    }

    private static SubscriptionConfig ReadConfig(JsonObject body, SubscriptionConfig? current)
    {
        try
        {
            var merged = current is null ? new JsonObject() : JsonNode.Parse(current.ToJson())!.AsObject();
            foreach (var (k, v) in body)
                if (k is not ("name" or "startAfter" or "state")) merged[k] = v?.DeepClone();
            return SubscriptionConfig.FromJson(merged.ToJsonString());
        }
        catch (System.Text.Json.JsonException e)
        {
            throw ScimException.InvalidValue("Invalid subscription: " + e.Message.Split(" Path:")[0]);
        }
    }

    public async Task List(HttpContext ctx)
    {
        Require(ctx, Scopes.Admin);
        var list = new JsonArray();
        foreach (var s in await subscriptions.ListAsync(ctx.RequestAborted).ConfigureAwait(false))
            list.Add(await View(s, ctx.RequestAborted).ConfigureAwait(false));
        await ScimHttp.WriteNodeAsync(ctx, 200, new JsonObject { ["subscriptions"] = list }).ConfigureAwait(false);
    }

    public async Task Get(HttpContext ctx, string id)
    {
        Require(ctx, Scopes.Admin);
        await ScimHttp.WriteNodeAsync(ctx, 200, await View(await Find(id, ctx.RequestAborted).ConfigureAwait(false), ctx.RequestAborted).ConfigureAwait(false)).ConfigureAwait(false);
    }

    public async Task Update(HttpContext ctx, string id)
    {
        Require(ctx, Scopes.Admin);
        var s = await Find(id, ctx.RequestAborted).ConfigureAwait(false);
        var body = await ScimHttp.ReadObjectAsync(ctx, limits.Feed, ctx.RequestAborted).ConfigureAwait(false);
        var state = s.State;
        if (body["state"] is JsonValue sv && sv.TryGetValue<string>(out var st))
            state = Enum.TryParse<SubscriptionState>(st, ignoreCase: true, out var parsed) && !int.TryParse(st, out _)
                && parsed is SubscriptionState.Active or SubscriptionState.Paused or SubscriptionState.Disabled
                ? parsed : throw ScimException.InvalidValue("state must be active, paused or disabled");
        await subscriptions.UpdateAsync(s, ReadConfig(body, s.Config), state, ctx.RequestAborted).ConfigureAwait(false);
        await ScimHttp.WriteNodeAsync(ctx, 200, await View((await subscriptions.FindAsync(s.Id, ctx.RequestAborted).ConfigureAwait(false))!, ctx.RequestAborted).ConfigureAwait(false)).ConfigureAwait(false);
    }

    public async Task Delete(HttpContext ctx, string id)
    {
        Require(ctx, Scopes.Admin);
        var s = await Find(id, ctx.RequestAborted).ConfigureAwait(false);
        await store.Feed.DeleteSubscriptionAsync(s.Id, ctx.RequestAborted).ConfigureAwait(false);
        // Its poll token goes with it: a token for a feed that no longer exists is a credential for nothing
        // that could come back to mean something (a later subscription cannot reuse the id, but the token
        // would still authenticate).
        await tokens.RevokeScopeAsync(Scopes.Feed(s.Id), ctx.RequestAborted).ConfigureAwait(false);
        ctx.Response.StatusCode = 204;
    }

    public async Task Rewind(HttpContext ctx, string id)
    {
        Require(ctx, Scopes.Admin);
        var s = await Find(id, ctx.RequestAborted).ConfigureAwait(false);
        var body = await ScimHttp.ReadObjectAsync(ctx, limits.Feed, ctx.RequestAborted).ConfigureAwait(false);
        var position = body["position"] is JsonValue pv && pv.TryGetValue<long>(out var p) ? p : throw ScimException.InvalidValue("position (a journal position) is required");
        await subscriptions.RewindAsync(s, position, ctx.RequestAborted).ConfigureAwait(false);
        await ScimHttp.WriteNodeAsync(ctx, 200, await View((await subscriptions.FindAsync(s.Id, ctx.RequestAborted).ConfigureAwait(false))!, ctx.RequestAborted).ConfigureAwait(false)).ConfigureAwait(false);
    }

    public async Task Jwks(HttpContext ctx, string id)
    {
        var s = await FindOwn(ctx, id).ConfigureAwait(false);
        var keys = new JsonArray();
        if (s.Key.PublicJwk() is { } jwk) keys.Add(jwk);
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/jwk-set+json";
        await ctx.Response.WriteAsync(new JsonObject { ["keys"] = keys }.ToJsonString(), ctx.RequestAborted).ConfigureAwait(false);
    }

    public async Task DeadLetters(HttpContext ctx, string id)
    {
        Require(ctx, Scopes.Admin);
        var s = await Find(id, ctx.RequestAborted).ConfigureAwait(false);
        var list = new JsonArray();
        foreach (var d in await store.Feed.DeadLettersAsync(s.Id, 1000, ctx.RequestAborted).ConfigureAwait(false))
            list.Add(new JsonObject { ["jti"] = d.Jti, ["position"] = d.Position, ["resourceId"] = d.ResourceId, ["attempts"] = d.Attempts, ["error"] = d.LastError, ["set"] = d.Token });
        await ScimHttp.WriteNodeAsync(ctx, 200, new JsonObject { ["deadLetters"] = list }).ConfigureAwait(false);
    }

    public async Task Replay(HttpContext ctx, string id)
    {
        Require(ctx, Scopes.Admin);
        var s = await Find(id, ctx.RequestAborted).ConfigureAwait(false);
        var n = await store.Feed.ReplayDeadLettersAsync(s.Id, ctx.RequestAborted).ConfigureAwait(false);
        await ScimHttp.WriteNodeAsync(ctx, 200, new JsonObject { ["replayed"] = n }).ConfigureAwait(false);
    }

    /// <summary>Deletes the dead letters: the events in them will not be delivered (the operator's call).</summary>
    public async Task Discard(HttpContext ctx, string id)
    {
        Require(ctx, Scopes.Admin);
        var s = await Find(id, ctx.RequestAborted).ConfigureAwait(false);
        var n = await store.Feed.DiscardDeadLettersAsync(s.Id, ctx.RequestAborted).ConfigureAwait(false);
        await ScimHttp.WriteNodeAsync(ctx, 200, new JsonObject { ["discarded"] = n }).ConfigureAwait(false);
    }

    /// <summary>RFC 8936 §2: acknowledge, report errors, and receive SETs in one POST.</summary>
    public async Task Poll(HttpContext ctx, string id)
    {
        var s = await FindOwn(ctx, id).ConfigureAwait(false);
        // Its SETs name who changed what: for the source's administrators, not for whoever holds the poll token.
        if (s.Config.Writer && !ScimApi.Caller(ctx).Has(Scopes.Admin))
            throw new ScimException(403, null, "This subscription's events name their writers: poll it with a token that has the admin scope");
        var body = ctx.Request.ContentLength == 0 ? new JsonObject() : await ScimHttp.ReadObjectAsync(ctx, limits.Poll, ctx.RequestAborted).ConfigureAwait(false);
        var response = await poll.PollAsync(s, PollRequest.Read(body), ctx.RequestAborted).ConfigureAwait(false);
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(response.ToJsonString(), ctx.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// The sealed passwords waiting for a subscription with the right to them (docs/passwords.md): for the admin
    /// scope only, never for a poll token, since whoever takes a password decides whether it is delivered.
    /// </summary>
    public async Task Passwords(HttpContext ctx, string id)
    {
        Require(ctx, Scopes.Admin);
        var s = await Find(id, ctx.RequestAborted).ConfigureAwait(false);
        var body = ctx.Request.ContentLength == 0 ? new JsonObject() : await ScimHttp.ReadObjectAsync(ctx, limits.Poll, ctx.RequestAborted).ConfigureAwait(false);
        var response = await passwords.PollAsync(s, body, ctx.RequestAborted).ConfigureAwait(false);
        ctx.Response.Headers.CacheControl = "no-store";
        await ScimHttp.WriteNodeAsync(ctx, 200, response).ConfigureAwait(false);
    }

    private async Task<JsonObject> View(Subscription s, CancellationToken ct)
    {
        var o = JsonNode.Parse(s.Config.ToJson())!.AsObject();
        o.Insert(0, "id", s.Id);
        o.Insert(1, "name", s.Name);
        o.Insert(2, "state", s.State.ToString().ToLowerInvariant());
        o["fanoutPosition"] = s.FanoutPosition;
        o["created"] = s.Created.ToString("O", CultureInfo.InvariantCulture);
        var stats = await store.Feed.StatsAsync(s.Id, ct).ConfigureAwait(false);
        if (subscriptions.StateReason(s, stats) is { } reason) o.Insert(3, "stateReason", reason);
        o["stats"] = new JsonObject
        {
            ["pending"] = stats.Pending,
            ["inFlight"] = stats.InFlight,
            ["deadLetters"] = stats.DeadLetters,
            ["oldestPendingAgeSeconds"] = stats.OldestPending is { } t ? Math.Round((time.GetUtcNow() - t).TotalSeconds, 3) : null,
        };
        return o;
    }
}
