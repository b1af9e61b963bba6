using System.Text.Json.Nodes;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Tests.State;

/// <summary>The stored form of an entry's changes, written through one buffer per thread used again for every entry.</summary>
public sealed class StoredChangesTests
{
    private static string Show(IReadOnlyList<AttributeChange> changes) =>
        string.Join("; ", changes.Select(c => $"{c.Path}: {c.Old?.ToJsonString() ?? "-"} -> {c.New?.ToJsonString() ?? "-"}"));

    [Fact]
    public void Entries_written_one_after_another_each_come_back_as_they_were_whatever_their_size()
    {
        var small = new AttributeChange[] { new("title", JsonValue.Create("Engineer"), JsonValue.Create("Rear Admiral")) };
        var large = new AttributeChange[]
        {
            new("photos", null, new JsonArray(Enumerable.Range(0, 2000).Select(i => (JsonNode)new JsonObject { ["value"] = $"https://example.com/p/{i:D40}" }).ToArray())),
            new("nickName", JsonValue.Create("Amazing Grace"), null),
        };
        var none = Array.Empty<AttributeChange>();

        // Small, then one far beyond the kept buffer, then small again and nothing: no entry carries another's bytes.
        var first = StoredChanges.Write(small);
        var big = StoredChanges.Write(large);
        var again = StoredChanges.Write(small);
        Assert.True(big!.Length > 64 * 1024);
        Assert.Equal(first, again);
        Assert.Null(StoredChanges.Write(none));
        Assert.Equal(Show(small), Show(StoredChanges.Read(again)));
        Assert.Equal(Show(large), Show(StoredChanges.Read(big)));
        Assert.Equal("[{\"path\":\"title\",\"old\":\"Engineer\",\"new\":\"Rear Admiral\"}]", first);
    }

    [Fact]
    public void Entries_written_on_many_threads_at_once_do_not_mix()
    {
        var results = new string?[64];
        Parallel.For(0, results.Length, i =>
        {
            for (var n = 0; n < 200; n++)
                results[i] = StoredChanges.Write([new AttributeChange("displayName", null, JsonValue.Create($"user {i}"))]);
        });
        for (var i = 0; i < results.Length; i++)
            Assert.Equal($"[{{\"path\":\"displayName\",\"new\":\"user {i}\"}}]", results[i]);
    }
}
