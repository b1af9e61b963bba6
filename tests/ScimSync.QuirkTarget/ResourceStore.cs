using System.Text.Json.Nodes;

namespace ScimSync.QuirkTarget;

/// <summary>Which kind of resource a collection holds.</summary>
public sealed record ResourceKind(string Name, string Endpoint, string Schema)
{
    public static readonly ResourceKind User = new("User", "Users", "urn:ietf:params:scim:schemas:core:2.0:User");
    public static readonly ResourceKind Group = new("Group", "Groups", "urn:ietf:params:scim:schemas:core:2.0:Group");
}

/// <summary>
/// The in-memory Users and Groups, kept outside the web host so they survive a simulated outage (the host
/// is stopped and a new one started on the same port). One lock guards everything; every resource handed
/// out is a deep copy. Resources are kept in creation order: list pages are stable.
/// </summary>
public sealed class ResourceStore(TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly OrderedDictionary<string, JsonObject> _users = new(StringComparer.Ordinal);
    private readonly OrderedDictionary<string, JsonObject> _groups = new(StringComparer.Ordinal);
    // userName is unique without regard to case (RFC 7643 says userName is not caseExact); the filter,
    // which compares exactly, is a separate matter.
    private readonly Dictionary<string, string> _userNames = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The base of meta.location, e.g. http://127.0.0.1:5000/scim/v2; set once the port is known.</summary>
    public string BaseUrl { get; set; } = "";

    private OrderedDictionary<string, JsonObject> Table(ResourceKind kind) => kind == ResourceKind.User ? _users : _groups;

    private string Now() => time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);

    public JsonObject Create(ResourceKind kind, JsonObject body)
    {
        var resource = (JsonObject)body.DeepClone();
        resource.Remove("id");
        resource.Remove("meta");
        if (resource["schemas"] is not JsonArray) resource["schemas"] = new JsonArray(kind.Schema);
        lock (_gate)
        {
            string? userName = null;
            if (kind == ResourceKind.User)
            {
                userName = RequiredString(resource, "userName");
                if (_userNames.ContainsKey(userName)) throw new ScimError(409, "uniqueness", $"userName {userName} is already taken");
            }
            else RequiredString(resource, "displayName");
            var id = Guid.NewGuid().ToString("N");
            var now = Now();
            resource["id"] = id;
            resource["meta"] = new JsonObject
            {
                ["resourceType"] = kind.Name,
                ["created"] = now,
                ["lastModified"] = now,
                ["location"] = $"{BaseUrl}/{kind.Endpoint}/{id}",
            };
            Table(kind).Add(id, resource);
            if (userName is not null) _userNames[userName] = id;
            return (JsonObject)resource.DeepClone();
        }
    }

    public JsonObject? Get(ResourceKind kind, string id)
    {
        lock (_gate) return Table(kind).TryGetValue(id, out var r) ? (JsonObject)r.DeepClone() : null;
    }

    /// <summary>
    /// The quirky PUT: top-level keys of the body replace the stored ones, keys the body does not mention are
    /// kept (a merge, not the replacement RFC 7644 §3.5.1 asks for).
    /// </summary>
    public JsonObject Merge(ResourceKind kind, string id, JsonObject body)
    {
        lock (_gate)
        {
            var stored = Table(kind).TryGetValue(id, out var r) ? r : throw ScimError.NotFound(kind.Name, id);
            var next = (JsonObject)stored.DeepClone();
            foreach (var (key, value) in body)
            {
                if (key is "id" or "meta") continue;
                next[key] = value?.DeepClone();
            }
            return Commit(kind, id, stored, next);
        }
    }

    /// <summary>Applies <paramref name="change"/> to a copy of the stored resource and stores the result.</summary>
    public void Update(ResourceKind kind, string id, Action<JsonObject> change)
    {
        lock (_gate)
        {
            var stored = Table(kind).TryGetValue(id, out var r) ? r : throw ScimError.NotFound(kind.Name, id);
            var next = (JsonObject)stored.DeepClone();
            change(next);
            Commit(kind, id, stored, next);
        }
    }

    private JsonObject Commit(ResourceKind kind, string id, JsonObject stored, JsonObject next)
    {
        if (kind == ResourceKind.User)
        {
            var oldName = stored["userName"]?.GetValue<string>();
            var newName = RequiredString(next, "userName");
            if (_userNames.TryGetValue(newName, out var holder) && holder != id)
                throw new ScimError(409, "uniqueness", $"userName {newName} is already taken");
            if (oldName is not null) _userNames.Remove(oldName);
            _userNames[newName] = id;
        }
        else RequiredString(next, "displayName");
        next["id"] = id;
        var meta = (JsonObject)stored["meta"]!.DeepClone();
        meta["lastModified"] = Now();
        next["meta"] = meta;
        Table(kind)[id] = next;
        return (JsonObject)next.DeepClone();
    }

    /// <summary>Deletes a resource. A deleted user stays in the members of its groups (dangling members), as in scim2-server.</summary>
    public bool Delete(ResourceKind kind, string id)
    {
        lock (_gate)
        {
            if (!Table(kind).Remove(id, out var removed)) return false;
            if (kind == ResourceKind.User && removed["userName"]?.GetValue<string>() is { } name) _userNames.Remove(name);
            return true;
        }
    }

    /// <summary>One page: resources [startIndex-1, startIndex-1+take) of those matching, in creation order.</summary>
    public List<JsonObject> Page(ResourceKind kind, EqualityFilter? filter, int startIndex, int take)
    {
        var page = new List<JsonObject>(Math.Min(take, 256));
        lock (_gate)
        {
            var table = Table(kind);
            if (take <= 0) return page;
            if (filter is null)
            {
                for (var i = startIndex - 1; i < table.Count && page.Count < take; i++) page.Add((JsonObject)table.GetAt(i).Value.DeepClone());
                return page;
            }
            // userName and id have an index (the filter still compares exactly, so the index only narrows).
            IEnumerable<JsonObject> candidates = filter.Attribute switch
            {
                "userName" when kind == ResourceKind.User =>
                    _userNames.TryGetValue(filter.Value, out var byName) ? [table[byName]] : [],
                "id" => table.TryGetValue(filter.Value, out var byId) ? [byId] : [],
                _ => table.Values,
            };
            var skip = startIndex - 1;
            foreach (var r in candidates)
            {
                if (!filter.Matches(r)) continue;
                if (skip > 0) { skip--; continue; }
                page.Add((JsonObject)r.DeepClone());
                if (page.Count == take) break;
            }
            return page;
        }
    }

    public JsonArray All(ResourceKind kind)
    {
        lock (_gate) return new JsonArray(Table(kind).Values.Select(r => (JsonNode)r.DeepClone()).ToArray());
    }

    private static string RequiredString(JsonObject resource, string name)
    {
        if (resource[name] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0) return s;
        throw ScimError.BadRequest("invalidValue", $"{name} is required and must be a non-empty string");
    }
}
