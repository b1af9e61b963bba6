using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ScimSync.Protocol.Errors;

namespace ScimSync.Server.Querying;

/// <summary>
/// RFC 9865 cursors: opaque, tamper-evident (HMAC-SHA256 with a key kept sealed in the data directory, so
/// cursors survive a restart: see CursorKey), bound to the query they were issued for, and made only of unreserved URI characters.
/// A cursor holds either the last row position seen (keyset, default order: stable under concurrent
/// inserts) or an offset (when a sortBy is given).
/// </summary>
public sealed class CursorCodec(byte[] key, TimeProvider time, TimeSpan timeout)
{
    public sealed record State(long? AfterSeq, int Offset, int Count, string QueryHash, long IssuedAt, long Position);

    public string Encode(long? afterSeq, int offset, int count, string queryHash, long position)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
        {
            ["a"] = afterSeq, ["o"] = offset, ["c"] = count, ["h"] = queryHash, ["t"] = time.GetUtcNow().ToUnixTimeSeconds(), ["p"] = position,
        });
        var mac = HMACSHA256.HashData(key, payload).AsSpan(0, 16).ToArray();
        return B64(payload) + "." + B64(mac);
    }

    public State Decode(string cursor, string queryHash)
    {
        var dot = cursor.IndexOf('.');
        byte[] payload, mac;
        try
        {
            if (dot <= 0) throw new FormatException();
            payload = UnB64(cursor[..dot]);
            mac = UnB64(cursor[(dot + 1)..]);
        }
        catch (FormatException)
        {
            throw Invalid();
        }
        var expected = HMACSHA256.HashData(key, payload).AsSpan(0, 16);
        if (!CryptographicOperations.FixedTimeEquals(expected, mac)) throw Invalid();
        using var doc = JsonDocument.Parse(payload);
        var r = doc.RootElement;
        var state = new State(
            r.GetProperty("a").ValueKind == JsonValueKind.Null ? null : r.GetProperty("a").GetInt64(),
            r.GetProperty("o").GetInt32(), r.GetProperty("c").GetInt32(), r.GetProperty("h").GetString()!, r.GetProperty("t").GetInt64(),
            r.GetProperty("p").GetInt64());
        // A cursor from another query is treated like one that never existed (RFC 9865 §6).
        if (state.QueryHash != queryHash) throw Invalid();
        if (time.GetUtcNow().ToUnixTimeSeconds() - state.IssuedAt > (long)timeout.TotalSeconds)
            throw new ScimException(400, ScimErrorType.ExpiredCursor, "The cursor has expired; start the walk again without a cursor");
        return state;
    }

    public static string HashQuery(params string?[] parts) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\u001f', parts.Select(p => p ?? "\u0000")))).AsSpan(0, 8));

    private static ScimException Invalid() => new(400, ScimErrorType.InvalidCursor, "The cursor is not valid for this query");

    private static string B64(ReadOnlySpan<byte> b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] UnB64(string s)
    {
        var t = s.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(t.PadRight(t.Length + (4 - t.Length % 4) % 4, '='));
    }
}
