using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace ScimSync.QuirkTarget;

public sealed record QuirkOptions(int Port, string Token, int PageCap);

/// <summary>The HTTP surface: SCIM 2.0 under /scim/v2 with this vendor's quirks, and /_admin for the tests.</summary>
public static class ScimEndpoints
{
    private const string ScimJson = "application/scim+json";

    public static void Map(WebApplication app, ResourceStore store, QuirkOptions options)
    {
        // Every route needs the bearer token, discovery included.
        app.Use(async (ctx, next) =>
        {
            if (ctx.Request.Headers.Authorization.ToString() != "Bearer " + options.Token)
            {
                await WriteAsync(ctx, 401, new ScimError(401, null, "Bearer token missing or not valid").ToJson());
                return;
            }
            try
            {
                await next(ctx);
            }
            catch (ScimError e)
            {
                await WriteAsync(ctx, e.Status, e.ToJson());
            }
        });

        app.MapGet("/_admin/users", (HttpContext ctx) => WriteAsync(ctx, 200, store.All(ResourceKind.User), "application/json"));
        app.MapGet("/_admin/groups", (HttpContext ctx) => WriteAsync(ctx, 200, store.All(ResourceKind.Group), "application/json"));

        var scim = app.MapGroup("/scim/v2");
        scim.MapGet("/ServiceProviderConfig", (HttpContext ctx) => WriteAsync(ctx, 200, ServiceProviderConfig(options)));
        scim.MapGet("/ResourceTypes", (HttpContext ctx) => WriteAsync(ctx, 200, List([ResourceType(ResourceKind.User), ResourceType(ResourceKind.Group)], 1)));
        scim.MapGet("/Schemas", (HttpContext ctx) => WriteAsync(ctx, 200, List([SchemaStub(ResourceKind.User.Schema, "User"), SchemaStub(ResourceKind.Group.Schema, "Group")], 1)));

        foreach (var kind in new[] { ResourceKind.User, ResourceKind.Group })
        {
            var endpoint = "/" + kind.Endpoint;
            scim.MapGet(endpoint, (HttpContext ctx) => ListAsync(ctx, store, kind, options));
            scim.MapGet(endpoint + "/{id}", (HttpContext ctx, string id) =>
                WriteAsync(ctx, 200, Project(ctx, store.Get(kind, id) ?? throw ScimError.NotFound(kind.Name, id))));
            scim.MapPost(endpoint, async (HttpContext ctx) =>
            {
                var created = store.Create(kind, await ReadObjectAsync(ctx));
                // 201 with the body, but no Location header (and no ETag, no meta.version).
                await WriteAsync(ctx, 201, created);
            });
            scim.MapPut(endpoint + "/{id}", async (HttpContext ctx, string id) =>
                await WriteAsync(ctx, 200, store.Merge(kind, id, await ReadObjectAsync(ctx))));
            scim.MapMethods(endpoint + "/{id}", ["PATCH"], async (HttpContext ctx, string id) =>
            {
                var apply = PatchApplier.Compile(await ReadObjectAsync(ctx), kind);
                store.Update(kind, id, apply);
                ctx.Response.StatusCode = 204;
            });
            scim.MapDelete(endpoint + "/{id}", (HttpContext ctx, string id) =>
            {
                if (!store.Delete(kind, id)) throw ScimError.NotFound(kind.Name, id);
                ctx.Response.StatusCode = 204;
                return Task.CompletedTask;
            });
        }

        // No bulk: ServiceProviderConfig says so, and the endpoint says it is not implemented.
        scim.MapPost("/Bulk", (HttpContext ctx) => WriteAsync(ctx, 501, new ScimError(501, null, "Bulk is not supported").ToJson()));

        app.MapFallback((HttpContext ctx) => WriteAsync(ctx, 404, new ScimError(404, null, $"No endpoint {ctx.Request.Method} {ctx.Request.Path}").ToJson()));
    }

    private static async Task ListAsync(HttpContext ctx, ResourceStore store, ResourceKind kind, QuirkOptions options)
    {
        var query = ctx.Request.Query;
        var filter = query.TryGetValue("filter", out var f) && !string.IsNullOrWhiteSpace(f) ? EqualityFilter.Parse(f.ToString()) : null;
        var startIndex = Math.Max(1, Integer(query, "startIndex") ?? 1);
        var count = Math.Max(0, Integer(query, "count") ?? options.PageCap);
        // The quirks: a page never holds more than the cap, whatever count asks, and totalResults is the
        // number of resources on this page, not in the result set.
        var page = store.Page(kind, filter, startIndex, Math.Min(count, options.PageCap));
        var body = List(page.Select(r => (JsonNode)Project(ctx, r)).ToArray(), startIndex);
        await WriteAsync(ctx, 200, body);
    }

    private static JsonObject List(JsonNode[] resources, int startIndex) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:ListResponse"),
        ["totalResults"] = resources.Length,
        ["itemsPerPage"] = resources.Length,
        ["startIndex"] = startIndex,
        ["Resources"] = new JsonArray(resources),
    };

    private static int? Integer(IQueryCollection query, string name)
    {
        if (!query.TryGetValue(name, out var raw) || string.IsNullOrEmpty(raw)) return null;
        return int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw ScimError.BadRequest("invalidValue", $"{name} must be an integer");
    }

    /// <summary>attributes / excludedAttributes on top-level names only (id, schemas and meta always stay).</summary>
    private static JsonObject Project(HttpContext ctx, JsonObject resource)
    {
        var query = ctx.Request.Query;
        if (query.TryGetValue("attributes", out var include) && !string.IsNullOrWhiteSpace(include))
        {
            var keep = Names(include.ToString());
            foreach (var key in resource.Select(p => p.Key).ToList())
                if (key is not ("id" or "schemas" or "meta") && !keep.Contains(key)) resource.Remove(key);
        }
        else if (query.TryGetValue("excludedAttributes", out var exclude) && !string.IsNullOrWhiteSpace(exclude))
        {
            var drop = Names(exclude.ToString());
            foreach (var key in resource.Select(p => p.Key).ToList())
                if (key is not ("id" or "schemas") && drop.Contains(key)) resource.Remove(key);
        }
        return resource;
    }

    private static HashSet<string> Names(string list) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(n => n.Split('.')[0]).ToHashSet(StringComparer.OrdinalIgnoreCase);

    private static async Task<JsonObject> ReadObjectAsync(HttpContext ctx)
    {
        try
        {
            return await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted) as JsonObject
                ?? throw ScimError.BadRequest("invalidSyntax", "the body must be a JSON object");
        }
        catch (JsonException e)
        {
            throw ScimError.BadRequest("invalidSyntax", "the body is not valid JSON: " + e.Message);
        }
    }

    private static async Task WriteAsync(HttpContext ctx, int status, JsonNode body, string contentType = ScimJson)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = contentType;
        await using var writer = new Utf8JsonWriter(ctx.Response.Body);
        body.WriteTo(writer);
        await writer.FlushAsync(ctx.RequestAborted);
    }

    private static JsonObject ServiceProviderConfig(QuirkOptions options) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
        ["patch"] = new JsonObject { ["supported"] = true },
        ["bulk"] = new JsonObject { ["supported"] = false, ["maxOperations"] = 0, ["maxPayloadSize"] = 0 },
        ["filter"] = new JsonObject { ["supported"] = true, ["maxResults"] = options.PageCap },
        ["changePassword"] = new JsonObject { ["supported"] = false },
        ["sort"] = new JsonObject { ["supported"] = false },
        ["etag"] = new JsonObject { ["supported"] = false },
        ["authenticationSchemes"] = new JsonArray(new JsonObject
        {
            ["type"] = "oauthbearertoken",
            ["name"] = "OAuth Bearer Token",
            ["description"] = "Authentication scheme using the OAuth Bearer Token Standard",
        }),
    };

    private static JsonNode ResourceType(ResourceKind kind) => new JsonObject
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:ResourceType"),
        ["id"] = kind.Name,
        ["name"] = kind.Name,
        ["endpoint"] = "/" + kind.Endpoint,
        ["schema"] = kind.Schema,
        ["schemaExtensions"] = kind == ResourceKind.User
            ? new JsonArray(new JsonObject { ["schema"] = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", ["required"] = false })
            : new JsonArray(),
    };

    // Minimal, as such servers often are: the ids and names, no attribute definitions.
    private static JsonNode SchemaStub(string id, string name) => new JsonObject
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Schema"),
        ["id"] = id,
        ["name"] = name,
        ["attributes"] = new JsonArray(),
    };

    /// <summary>The port Kestrel actually bound (the one it picked when asked for port 0).</summary>
    public static int BoundPort(WebApplication app)
    {
        var server = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>();
        var addresses = server.Features.GetRequiredFeature<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>().Addresses;
        return new Uri(addresses.First()).Port;
    }
}
