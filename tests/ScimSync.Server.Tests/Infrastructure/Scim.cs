using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Server.Tests.Infrastructure;

/// <summary>Small helpers that keep tests readable: send JSON, get status + JSON back.</summary>
public static class Scim
{
    public const string UserSchema = "urn:ietf:params:scim:schemas:core:2.0:User";
    public const string GroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group";
    public const string Enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    public const string PatchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

    public sealed record Response(HttpStatusCode Status, JsonNode? Body, HttpResponseHeaders Headers, HttpContentHeaders? ContentHeaders)
    {
        public JsonObject Json => Body as JsonObject ?? throw new InvalidOperationException($"No JSON body (status {(int)Status})");
        public string? ETag => Headers.ETag?.ToString();
        public string? ScimType => Json["scimType"]?.GetValue<string>();
        public override string ToString() => $"{(int)Status} {Body?.ToJsonString()}";
    }

    public static async Task<Response> SendAsync(this HttpClient c, HttpMethod method, string path, object? body = null, Action<HttpRequestMessage>? configure = null)
    {
        // "/feeds/..." and "/admin/..." are outside the SCIM root; everything else is relative to it.
        var outside = path.StartsWith("/feeds", StringComparison.Ordinal) || path.StartsWith("/admin", StringComparison.Ordinal);
        using var req = new HttpRequestMessage(method, outside ? path : path.TrimStart('/'));
        if (body is not null)
        {
            var text = body switch
            {
                string s => s,
                JsonNode n => n.ToJsonString(),
                _ => System.Text.Json.JsonSerializer.Serialize(body),
            };
            req.Content = new StringContent(text, Encoding.UTF8, "application/scim+json");
        }
        configure?.Invoke(req);
        using var resp = await c.SendAsync(req);
        var raw = await resp.Content.ReadAsStringAsync();
        JsonNode? json = null;
        if (raw.Length > 0)
        {
            try { json = JsonNode.Parse(raw); }
            catch (System.Text.Json.JsonException) { json = JsonValue.Create(raw); }
        }
        return new Response(resp.StatusCode, json, resp.Headers, resp.Content.Headers);
    }

    public static Task<Response> GetScimAsync(this HttpClient c, string path) => c.SendAsync(HttpMethod.Get, path);
    public static Task<Response> PostAsync(this HttpClient c, string path, object body) => c.SendAsync(HttpMethod.Post, path, body);
    public static Task<Response> PutAsync(this HttpClient c, string path, object body) => c.SendAsync(HttpMethod.Put, path, body);
    public static Task<Response> PatchAsync(this HttpClient c, string path, object body) => c.SendAsync(HttpMethod.Patch, path, body);
    public static Task<Response> DeleteScimAsync(this HttpClient c, string path) => c.SendAsync(HttpMethod.Delete, path);

    public static JsonObject User(string userName, Action<JsonObject>? extra = null)
    {
        var o = new JsonObject { ["schemas"] = new JsonArray(UserSchema), ["userName"] = userName };
        extra?.Invoke(o);
        return o;
    }

    public static JsonObject Patch(params JsonObject[] ops) => new()
    {
        ["schemas"] = new JsonArray(PatchOp),
        ["Operations"] = new JsonArray(ops.Select(o => (JsonNode)o).ToArray()),
    };

    public static JsonObject Op(string op, string? path, JsonNode? value = null)
    {
        var o = new JsonObject { ["op"] = op };
        if (path is not null) o["path"] = path;
        if (value is not null) o["value"] = value;
        return o;
    }

    public static async Task<string> CreateUserAsync(this HttpClient c, string userName, Action<JsonObject>? extra = null)
    {
        var r = await c.PostAsync("Users", User(userName, extra));
        Assert.True(r.Status == HttpStatusCode.Created, r.ToString());
        return r.Json["id"]!.GetValue<string>();
    }

    public static async Task<string> CreateGroupAsync(this HttpClient c, string displayName, params string[] memberIds)
    {
        var body = new JsonObject { ["schemas"] = new JsonArray(GroupSchema), ["displayName"] = displayName };
        if (memberIds.Length > 0) body["members"] = new JsonArray(memberIds.Select(id => (JsonNode)new JsonObject { ["value"] = id }).ToArray());
        var r = await c.PostAsync("Groups", body);
        Assert.True(r.Status == HttpStatusCode.Created, r.ToString());
        return r.Json["id"]!.GetValue<string>();
    }

    public static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..10];

    public static void AssertError(Response r, HttpStatusCode status, string? scimType)
    {
        Assert.True(r.Status == status, $"expected {(int)status}, got {r}");
        Assert.Equal("urn:ietf:params:scim:api:messages:2.0:Error", r.Json["schemas"]![0]!.GetValue<string>());
        Assert.Equal(((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture), r.Json["status"]!.GetValue<string>());
        if (scimType is not null) Assert.Equal(scimType, r.ScimType);
    }
}
