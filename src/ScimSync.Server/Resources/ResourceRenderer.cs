using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScimSync.Protocol.Json;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;
using ScimSync.Store.Resources;

namespace ScimSync.Server.Resources;

/// <summary>
/// Writes stored resources as SCIM JSON. The default representation is spliced from the stored document
/// without parsing it (the store keeps exactly the client-visible attributes); any other selection goes
/// through the projector.
/// </summary>
public sealed class ResourceRenderer(SchemaRegistry registry, ResourceProjector projector)
{
    // The stored document can be sent as it is only when the type has no attribute that a default response
    // must hide (returned=never/request); password, the core one, is never stored in the document.
    private readonly IReadOnlySet<string> _spliceable = registry.ResourceTypes
        .Where(rt => !SchemasOf(registry, rt).SelectMany(s => s.Attributes).Any(a =>
            a.Name != "password" && (Hidden(a) || a.SubAttributes.Any(Hidden))))
        .Select(rt => rt.Name).ToHashSet();

    private static bool Hidden(SchemaAttribute a) => a.Returned is Returned.Never or Returned.Request;

    private static IEnumerable<ScimSchema> SchemasOf(SchemaRegistry registry, ResourceTypeDefinition rt) =>
        rt.SchemaExtensions.Select(e => registry.FindSchema(e.Schema)!).Prepend(registry.CoreSchemaOf(rt));

    public static string FormatTime(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static string Location(string baseUrl, ResourceTypeDefinition rt, string id) => baseUrl + rt.Endpoint + "/" + id;

    public void Write(Utf8JsonWriter w, StoredResource r, ResourceTypeDefinition rt, string baseUrl, AttributeSelection selection, IReadOnlySet<string>? requested = null)
    {
        if (selection.IsDefault && _spliceable.Contains(rt.Name))
        {
            Splice(w, r, rt, baseUrl);
            return;
        }
        var projected = projector.Project(ToFull(r, rt, baseUrl), rt, selection, requested);
        projected.WriteTo(w);
    }

    /// <summary>The full representation (everything but writeOnly values), for projection and evaluation.</summary>
    public JsonObject ToFull(StoredResource r, ResourceTypeDefinition rt, string baseUrl)
    {
        var o = JsonNode.Parse(r.Data)!.AsObject();
        o["id"] = r.Id;
        if (r.Members is { Count: > 0 } members) o["members"] = MembersNode(members, baseUrl);
        if (r.Groups is { Count: > 0 } groups) o["groups"] = GroupsNode(groups, baseUrl);
        o["meta"] = new JsonObject
        {
            ["resourceType"] = rt.Name,
            ["created"] = FormatTime(r.Created),
            ["lastModified"] = FormatTime(r.LastModified),
            ["location"] = Location(baseUrl, rt, r.Id),
            ["version"] = r.ETag,
        };
        return o;
    }

    private static JsonArray MembersNode(IReadOnlyList<MemberRef> members, string baseUrl)
    {
        var arr = new JsonArray();
        foreach (var m in members)
        {
            var o = new JsonObject { ["value"] = m.Value, ["$ref"] = $"{baseUrl}/{m.Type}s/{m.Value}", ["type"] = m.Type };
            if (m.Display is not null) o["display"] = m.Display;
            arr.Add(o);
        }
        return arr;
    }

    private static JsonArray GroupsNode(IReadOnlyList<GroupRef> groups, string baseUrl)
    {
        var arr = new JsonArray();
        foreach (var g in groups)
        {
            var o = new JsonObject { ["value"] = g.Value, ["$ref"] = $"{baseUrl}/Groups/{g.Value}", ["type"] = g.Type };
            if (g.Display is not null) o["display"] = g.Display;
            arr.Add(o);
        }
        return arr;
    }

    private static void Splice(Utf8JsonWriter w, StoredResource r, ResourceTypeDefinition rt, string baseUrl)
    {
        // The tail through the thread's reused writer: a fresh one per read allocated 4 KB for a ~300-byte tail.
        using var tail = ReusedJsonWriter.Rent();
        var tw = tail.Writer;
        tw.WriteStartObject();
        tw.WriteString("id"u8, r.Id);
        if (r.Members is { Count: > 0 } members)
        {
            tw.WriteStartArray("members"u8);
            foreach (var m in members) WriteReference(tw, m.Value, $"{baseUrl}/{m.Type}s/{m.Value}", m.Type, m.Display);
            tw.WriteEndArray();
        }
        if (r.Groups is { Count: > 0 } groups)
        {
            tw.WriteStartArray("groups"u8);
            foreach (var g in groups) WriteReference(tw, g.Value, $"{baseUrl}/Groups/{g.Value}", g.Type, g.Display);
            tw.WriteEndArray();
        }
        tw.WriteStartObject("meta"u8);
        tw.WriteString("resourceType"u8, rt.Name);
        tw.WriteString("created"u8, FormatTime(r.Created));
        tw.WriteString("lastModified"u8, FormatTime(r.LastModified));
        tw.WriteString("location"u8, Location(baseUrl, rt, r.Id));
        tw.WriteString("version"u8, r.ETag);
        tw.WriteEndObject();
        tw.WriteEndObject();
        var written = tail.Written;
        // data is "{...}" with at least "schemas"; drop its closing brace and the tail's opening one.
        var dataLength = Encoding.UTF8.GetByteCount(r.Data);
        var length = dataLength - 1 + 1 + written.Length - 1;
        var spliced = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            Encoding.UTF8.GetBytes(r.Data, spliced);
            spliced[dataLength - 1] = (byte)',';
            written[1..].CopyTo(spliced.AsSpan(dataLength));
            w.WriteRawValue(spliced.AsSpan(0, length), skipInputValidation: true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(spliced);
        }
    }

    /// <summary>One value of members or groups: value, $ref, type and display, in that order.</summary>
    private static void WriteReference(Utf8JsonWriter w, string value, string reference, string type, string? display)
    {
        w.WriteStartObject();
        w.WriteString("value"u8, value);
        w.WriteString("$ref"u8, reference);
        w.WriteString("type"u8, type);
        if (display is not null) w.WriteString("display"u8, display);
        w.WriteEndObject();
    }
}
