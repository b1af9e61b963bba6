using System.Text.Json.Nodes;
using ScimSync.Protocol.Messages;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Server.Discovery;

/// <summary>
/// /ServiceProviderConfig, /ResourceTypes and /Schemas (RFC 7643 §5–7, RFC 7644 §4). Each figure here is
/// the limit the server enforces, read from the same options object.
/// </summary>
public sealed class DiscoveryDocuments(SchemaRegistry registry, ScimServerOptions options)
{
    public JsonObject ServiceProviderConfig(string baseUrl)
    {
        var config = ServiceProviderFeatures(baseUrl);
        if (options.DocumentationUrl is { } documentation) config.Insert(1, "documentationUri", documentation);
        return config;
    }

    private JsonObject ServiceProviderFeatures(string baseUrl) => new()
    {
        ["schemas"] = new JsonArray(ScimSchemaUris.ServiceProviderConfig),
        ["patch"] = new JsonObject { ["supported"] = !options.DisablePatch },
        ["bulk"] = new JsonObject
        {
            ["supported"] = !options.DisableBulk, ["maxOperations"] = options.BulkMaxOperations, ["maxPayloadSize"] = options.BulkMaxPayloadBytes,
        },
        ["filter"] = new JsonObject { ["supported"] = true, ["maxResults"] = options.MaxResults },
        ["changePassword"] = new JsonObject { ["supported"] = true },
        ["sort"] = new JsonObject { ["supported"] = true },
        ["etag"] = new JsonObject { ["supported"] = true },
        ["pagination"] = Pagination(),
        // RFC 9967 §4: events are available; requests are always answered synchronously.
        ["securityEvents"] = new JsonObject
        {
            ["asyncRequest"] = "none",
            ["eventUris"] = new JsonArray(
                Feed.Events.EventUris.FeedAdd, Feed.Events.EventUris.FeedRemove,
                Feed.Events.EventUris.CreateFull, Feed.Events.EventUris.CreateNotice,
                Feed.Events.EventUris.PatchFull, Feed.Events.EventUris.PatchNotice,
                Feed.Events.EventUris.PutFull, Feed.Events.EventUris.PutNotice,
                Feed.Events.EventUris.Delete, Feed.Events.EventUris.Activate, Feed.Events.EventUris.Deactivate),
        },
        ["authenticationSchemes"] = new JsonArray(new JsonObject
        {
            ["type"] = "oauthbearertoken",
            ["name"] = "OAuth Bearer Token",
            ["description"] = "Authentication with a bearer token issued by `scimsync token create` (RFC 6750).",
            ["specUri"] = "https://www.rfc-editor.org/info/rfc6750",
            ["primary"] = true,
        }),
        ["meta"] = new JsonObject
        {
            ["resourceType"] = "ServiceProviderConfig",
            ["location"] = baseUrl + "/ServiceProviderConfig",
        },
    };

    private JsonObject Pagination()
    {
        var o = new JsonObject
        {
            ["cursor"] = !options.DisableCursor,
            ["index"] = true,
            ["defaultPaginationMethod"] = "index",
            ["defaultPageSize"] = options.DefaultPageSize,
            ["maxPageSize"] = options.MaxResults,
        };
        if (!options.DisableCursor) o["cursorTimeout"] = (int)options.CursorTimeout.TotalSeconds;
        return o;
    }

    public JsonObject ResourceType(ResourceTypeDefinition rt, string baseUrl) =>
        SchemaJson.WriteResourceType(rt, baseUrl + "/ResourceTypes/" + rt.Id);

    public JsonObject Schema(ScimSchema s, string baseUrl) => SchemaJson.WriteSchema(s, baseUrl + "/Schemas/" + s.Id);

    public JsonObject List(IReadOnlyList<JsonObject> items) => new()
    {
        ["schemas"] = new JsonArray(ScimSchemaUris.ListResponse),
        ["totalResults"] = items.Count,
        ["itemsPerPage"] = items.Count,
        ["startIndex"] = 1,
        ["Resources"] = new JsonArray(items.Select(i => (JsonNode)i).ToArray()),
    };

    public IReadOnlyList<ScimSchema> PublishedSchemas => registry.Schemas;
}
