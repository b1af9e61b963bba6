using System.Text.Json.Nodes;
using ScimSync.Events;
using ScimSync.Feed.Events;
using ScimSync.Store.Journal;

namespace ScimSync.Feed.Tests.Events;

/// <summary>Journal entries as the server writes them (see ResourceService), and JSON assertions.</summary>
internal static class EventTestSupport
{
    public const string UserId = "2819c223-7f76-453a-919d-413861904646";
    public const string GroupId = "176f397e-c4c4-4b94-b2cf-cb759780b8c2";
    public const string Txn = "b7b953f11cc6489bbfb87834747cc4c1";
    public static readonly DateTimeOffset Time = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public const string UserData = """
        {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
         "userName":"bjensen","externalId":"bjensen-ext","name":{"givenName":"Barbara","familyName":"Jensen"},
         "active":true,"emails":[{"value":"bjensen@example.com","type":"work"}],
         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","department":"Tour"}}
        """;

    /// <summary>UserData as a full event shows it: with id and meta.</summary>
    public const string UserFull = $$$"""
        {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
         "id":"{{{UserId}}}","userName":"bjensen","externalId":"bjensen-ext","name":{"givenName":"Barbara","familyName":"Jensen"},
         "active":true,"emails":[{"value":"bjensen@example.com","type":"work"}],
         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984","department":"Tour"},
         "meta":{"resourceType":"User","version":"W/\"3\""}}
        """;

    public const string GroupData = """
        {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"crmUsers","externalId":"crmUsers",
         "members":[{"value":"2819c223-7f76-453a-919d-413861904646","type":"User","display":"bjensen"}]}
        """;

    public static JournalEntry Entry(JournalOperation op, string? data, IReadOnlyList<string>? attributes = null,
        string? request = null, string type = "User", string id = UserId, long version = 3) =>
        new(42, new JournalAppend(Txn, type, id, op, version, attributes ?? [], data, request, "token-1", Time));

    public static JournalEntry Create(string data = UserData, IReadOnlyList<string>? attributes = null) =>
        Entry(JournalOperation.Create, data, attributes ?? ["userName", "externalId", "name.givenName", "name.familyName", "active", "emails"], version: 1);

    public static JournalEntry Put(string data = UserData, params string[] attributes) =>
        Entry(JournalOperation.Put, data, attributes.Length == 0 ? ["name.givenName"] : attributes);

    public static JournalEntry Patch(string? request, string? data = UserData, params string[] attributes) =>
        Entry(JournalOperation.Patch, data, attributes.Length == 0 ? ["name.givenName"] : attributes, request);

    public static JournalEntry Delete(string type = "User", string id = UserId) => Entry(JournalOperation.Delete, null, [], type: type, id: id);

    public static string PatchOp(params string[] operations) =>
        """{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[""" + string.Join(",", operations) + "]}";

    public static string WithActive(string data, bool? active)
    {
        var o = JsonNode.Parse(data)!.AsObject();
        if (active is null) o.Remove("active");
        else o["active"] = active.Value;
        return o.ToJsonString();
    }

    public static ScimEvent Build(JournalEntry entry, PayloadMode mode = PayloadMode.Full,
        FeedTransition transition = FeedTransition.None, string endpoint = "/Users") =>
        ScimEventBuilder.Build(entry, mode, transition, endpoint);

    /// <summary>The event URIs of the events claim without the common prefix, in order.</summary>
    public static string[] Uris(ScimEvent e) =>
        e.Events.Select(kv => kv.Key[EventUris.Prefix.Length..]).ToArray();

    public static JsonObject Payload(ScimEvent e, string uri) => Assert.IsType<JsonObject>(e.Events[uri]);

    public static void AssertJson(string expected, JsonNode? actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), actual),
            $"expected {JsonNode.Parse(expected)?.ToJsonString()}\n  actual {actual?.ToJsonString()}");
}
