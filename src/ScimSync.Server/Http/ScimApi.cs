using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Querying;
using ScimSync.Server.Resources;
using ScimSync.Server.Security;
using ScimSync.Store;
using ScimSync.Store.Resources;

namespace ScimSync.Server.Http;

/// <summary>The resource endpoints of RFC 7644 §3.3–3.6 and /Me (§3.11).</summary>
public sealed partial class ScimApi(
    IResourceStore store,
    SchemaRegistry registry,
    ResourceService resources,
    QueryService queries,
    ResourceRenderer renderer,
    RequestLimits limits,
    ScimServerOptions options)
{
    public const string CallerKey = "scimsync.caller";

    public static ScimCaller Caller(HttpContext ctx) => (ScimCaller)ctx.Items[CallerKey]!;

    private static void Require(HttpContext ctx, string scope)
    {
        if (!Caller(ctx).Has(scope))
            throw new ScimException(403, null, $"This token lacks the \"{scope}\" scope");
    }

    private ResourceTypeDefinition TypeOf(string endpoint) =>
        registry.FindByEndpoint(endpoint) ?? throw ScimException.NotFound($"No resource type at /{endpoint}");

    private string Base(HttpContext ctx) => ScimHttp.BaseUrl(ctx, options);

    public async Task List(HttpContext ctx, string endpoint)
    {
        Require(ctx, Scopes.Read);
        var rt = TypeOf(endpoint);
        await WriteQuery(ctx, [rt], ListRequest.FromQuery(ctx.Request.Query, !options.DisableCursor)).ConfigureAwait(false);
    }

    public async Task RootList(HttpContext ctx)
    {
        Require(ctx, Scopes.Read);
        await WriteQuery(ctx, registry.ResourceTypes, ListRequest.FromQuery(ctx.Request.Query, !options.DisableCursor)).ConfigureAwait(false);
    }

    public async Task Search(HttpContext ctx, string endpoint)
    {
        Require(ctx, Scopes.Read);
        var rt = TypeOf(endpoint);
        var body = await ScimHttp.ReadObjectAsync(ctx, limits.Search, ctx.RequestAborted).ConfigureAwait(false);
        await WriteQuery(ctx, [rt], ListRequest.FromSearchBody(body, !options.DisableCursor)).ConfigureAwait(false);
    }

    public async Task RootSearch(HttpContext ctx)
    {
        Require(ctx, Scopes.Read);
        var body = await ScimHttp.ReadObjectAsync(ctx, limits.Search, ctx.RequestAborted).ConfigureAwait(false);
        await WriteQuery(ctx, registry.ResourceTypes, ListRequest.FromSearchBody(body, !options.DisableCursor)).ConfigureAwait(false);
    }

    private async Task WriteQuery(HttpContext ctx, IReadOnlyList<ResourceTypeDefinition> types, ListRequest request)
    {
        var page = await queries.QueryAsync(types, request, ctx.RequestAborted).ConfigureAwait(false);
        var baseUrl = Base(ctx);
        ctx.Response.Headers[QueryService.PositionHeader] = page.Position.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await ScimHttp.WriteJsonAsync(ctx, 200, w => queries.WriteListResponse(w, page, baseUrl)).ConfigureAwait(false);
    }

    public async Task Get(HttpContext ctx, string endpoint, string id)
    {
        Require(ctx, Scopes.Read);
        await GetResource(ctx, TypeOf(endpoint), id).ConfigureAwait(false);
    }

    private async Task GetResource(HttpContext ctx, ResourceTypeDefinition rt, string id)
    {
        var selection = AttributeSelection.Parse(ctx.Request.Query["attributes"], ctx.Request.Query["excludedAttributes"]);
        var load = new LoadOptions(selection.Wants("members", Returned.Default), selection.Wants("groups", Returned.Default));
        var found = await store.FindAsync(rt, id, load, ctx.RequestAborted).ConfigureAwait(false)
            ?? throw ScimException.NotFound($"{rt.Name} {id} not found");
        var inm = ctx.Request.Headers.IfNoneMatch.ToString();
        if (inm.Length > 0 && ResourceService.ETagMatches(found.ETag, inm))
        {
            ctx.Response.StatusCode = 304;
            ctx.Response.Headers.ETag = found.ETag;
            return;
        }
        await WriteResource(ctx, 200, found, rt, selection, null).ConfigureAwait(false);
    }

    private async Task WriteResource(HttpContext ctx, int status, StoredResource r, ResourceTypeDefinition rt, AttributeSelection selection, IReadOnlySet<string>? requested)
    {
        var baseUrl = Base(ctx);
        var location = ResourceRenderer.Location(baseUrl, rt, r.Id);
        ctx.Response.Headers.ETag = r.ETag;
        if (status == 201) ctx.Response.Headers.Location = location;
        ctx.Response.Headers.ContentLocation = location;
        await ScimHttp.WriteJsonAsync(ctx, status, w => renderer.Write(w, r, rt, baseUrl, selection, requested)).ConfigureAwait(false);
    }

    public async Task Create(HttpContext ctx, string endpoint)
    {
        Require(ctx, Scopes.Write);
        var rt = TypeOf(endpoint);
        var selection = AttributeSelection.Parse(ctx.Request.Query["attributes"], ctx.Request.Query["excludedAttributes"]);
        var body = await ScimHttp.ReadObjectAsync(ctx, limits.ForResource(rt), ctx.RequestAborted).ConfigureAwait(false);
        var result = await resources.CreateAsync(rt, body, Context(ctx), ctx.RequestAborted).ConfigureAwait(false);
        await WriteResource(ctx, 201, result.Resource, rt, selection, result.Requested).ConfigureAwait(false);
    }

    public async Task Replace(HttpContext ctx, string endpoint, string id)
    {
        Require(ctx, Scopes.Write);
        await ReplaceResource(ctx, TypeOf(endpoint), id).ConfigureAwait(false);
    }

    private async Task ReplaceResource(HttpContext ctx, ResourceTypeDefinition rt, string id)
    {
        var selection = AttributeSelection.Parse(ctx.Request.Query["attributes"], ctx.Request.Query["excludedAttributes"]);
        var body = await ScimHttp.ReadObjectAsync(ctx, limits.ForResource(rt), ctx.RequestAborted).ConfigureAwait(false);
        var result = await resources.ReplaceAsync(rt, id, body, IfMatch(ctx), Context(ctx), ctx.RequestAborted).ConfigureAwait(false);
        var r = result.Resource;
        if (rt.Name == "User" && r.Groups is null)
            r = await store.FindAsync(rt, id, new LoadOptions(false, true), ctx.RequestAborted).ConfigureAwait(false) ?? r;
        await WriteResource(ctx, 200, r, rt, selection, result.Requested).ConfigureAwait(false);
    }

    public async Task Patch(HttpContext ctx, string endpoint, string id)
    {
        Require(ctx, Scopes.Write);
        await PatchResource(ctx, TypeOf(endpoint), id).ConfigureAwait(false);
    }

    /// <summary>
    /// Users answer 200 with the resource. Groups answer 204 unless the client asks for attributes: a
    /// membership change on a 50,000-member group must not send the 50,000 members back (RFC 7644
    /// §3.5.2 allows either).
    /// </summary>
    private async Task PatchResource(HttpContext ctx, ResourceTypeDefinition rt, string id)
    {
        if (options.DisablePatch) throw PatchDisabled();
        var selection = AttributeSelection.Parse(ctx.Request.Query["attributes"], ctx.Request.Query["excludedAttributes"]);
        var body = await ScimHttp.ReadObjectAsync(ctx, limits.ForResource(rt), ctx.RequestAborted).ConfigureAwait(false);
        var request = PatchRequest.Read(body);
        var result = await resources.PatchAsync(rt, id, request, IfMatch(ctx), Context(ctx), ctx.RequestAborted).ConfigureAwait(false);
        if (rt.Name == "Group" && selection.IsDefault)
        {
            ctx.Response.Headers.ETag = result.Resource.ETag;
            ctx.Response.StatusCode = 204;
            return;
        }
        var load = new LoadOptions(selection.Wants("members", Returned.Default), selection.Wants("groups", Returned.Default));
        var fresh = await store.FindAsync(rt, id, load, ctx.RequestAborted).ConfigureAwait(false) ?? result.Resource;
        await WriteResource(ctx, 200, fresh, rt, selection, null).ConfigureAwait(false);
    }

    public async Task Delete(HttpContext ctx, string endpoint, string id)
    {
        Require(ctx, Scopes.Write);
        await resources.DeleteAsync(TypeOf(endpoint), id, IfMatch(ctx), Context(ctx), ctx.RequestAborted).ConfigureAwait(false);
        ctx.Response.StatusCode = 204;
    }

    /// <summary>RFC 7644 §3.12: 501 for an operation the service provider does not support.</summary>
    public static ScimException PatchDisabled() => ScimException.NotImplemented("PATCH is not supported by this server");

    private static WriteContext Context(HttpContext ctx)
    {
        var caller = Caller(ctx);
        return WriteContext.New(caller.TokenId, caller.Name);
    }

    private static string? IfMatch(HttpContext ctx)
    {
        var v = ctx.Request.Headers.IfMatch.ToString();
        return v.Length == 0 ? null : v;
    }

    /// <summary>
    /// /Me (RFC 7644 §3.11) is served directly for tokens bound to a user; other tokens have no "me" and
    /// get the RFC's 501.
    /// </summary>
    public async Task Me(HttpContext ctx)
    {
        var caller = Caller(ctx);
        if (caller.UserId is null)
            throw ScimException.NotImplemented("/Me is available only to tokens bound to a user (scimsync token create --user ID)");
        var rt = registry.User;
        switch (ctx.Request.Method)
        {
            case "GET":
                Require(ctx, Scopes.Read);
                await GetResource(ctx, rt, caller.UserId).ConfigureAwait(false);
                break;
            case "PUT":
                Require(ctx, Scopes.Write);
                await ReplaceResource(ctx, rt, caller.UserId).ConfigureAwait(false);
                break;
            case "PATCH":
                Require(ctx, Scopes.Write);
                await PatchResource(ctx, rt, caller.UserId).ConfigureAwait(false);
                break;
            case "DELETE":
                Require(ctx, Scopes.Write);
                await resources.DeleteAsync(rt, caller.UserId, IfMatch(ctx), Context(ctx), ctx.RequestAborted).ConfigureAwait(false);
                ctx.Response.StatusCode = 204;
                break;
            default:
                throw ScimException.NotImplemented($"{ctx.Request.Method} /Me is not supported");
        }
    }
}
