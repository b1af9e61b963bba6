using System.Text.Json.Nodes;

namespace ScimSync.Events;

/// <summary>
/// The answer to an RFC 8936 poll: <c>{"sets":{"&lt;jti&gt;":"&lt;SET&gt;"},"moreAvailable":true}</c>. The server
/// writes it (<see cref="ToJson"/>) and the sync engine reads it (<see cref="Read"/>); the SETs keep the order
/// they were written in, which is the order of each resource's changes.
/// </summary>
public sealed record PollResponse(IReadOnlyList<PolledSet> Sets, bool MoreAvailable)
{
    public JsonObject ToJson()
    {
        var sets = new JsonObject();
        foreach (var s in Sets) sets[s.Jti] = s.Token;
        var response = new JsonObject { ["sets"] = sets };
        // RFC 8936 §2.5: absent means false.
        if (MoreAvailable) response["moreAvailable"] = true;
        return response;
    }

    /// <summary>
    /// Reads an answer; a SET that is not a string is refused like any SET that cannot be read
    /// (<see cref="SetValidationException"/>), since skipping it would lose its change.
    /// </summary>
    public static PollResponse Read(JsonObject body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var sets = new List<PolledSet>();
        foreach (var (jti, token) in body["sets"] as JsonObject ?? [])
            sets.Add(new PolledSet(jti, token is JsonValue v && v.TryGetValue<string>(out var jwt)
                ? jwt : throw new SetValidationException("invalid_request", $"SET {jti} is not a compact JWS string")));
        return new PollResponse(sets, body["moreAvailable"] is JsonValue m && m.TryGetValue<bool>(out var more) && more);
    }
}
