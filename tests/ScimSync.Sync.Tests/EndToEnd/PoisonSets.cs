using System.Buffers.Text;
using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Sync.Tests.EndToEnd;

/// <summary>A source whose event feed hands the engine SETs it must refuse (for a <see cref="FaultProxy"/>'s <c>rewritePost</c>).</summary>
public static class PoisonSets
{
    /// <summary>
    /// The source's answers with each SET about the person <paramref name="poisoned"/> names rewritten without
    /// its txn and signed again with the subscription's key (caught from the answer that created it): a SET that
    /// verifies, and that the engine's validator refuses (RFC 9967 requires txn). Null: nothing is spoiled.
    /// </summary>
    public static Func<string, string, string> SpoilSetsAbout(Func<string?> poisoned)
    {
        byte[]? key = null;
        return (path, body) =>
        {
            if (path.EndsWith("/feeds/v1/subscriptions", StringComparison.Ordinal) && JsonNode.Parse(body)?["secret"] is JsonValue secret)
                key = Convert.FromBase64String(secret.GetValue<string>());
            if (!path.EndsWith("/poll", StringComparison.Ordinal) || poisoned() is not { } id || key is null) return body;
            var answer = JsonNode.Parse(body)!.AsObject();
            if (answer["sets"] is not JsonObject sets) return body;
            foreach (var (jti, token) in sets.ToArray())
            {
                var parts = token!.GetValue<string>().Split('.');
                var claims = JsonNode.Parse(Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1])))!.AsObject();
                if (claims["sub_id"]?["id"]?.GetValue<string>() != id) continue;
                claims.Remove("txn");
                var payload = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(claims.ToJsonString()));
                var mac = System.Security.Cryptography.HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(parts[0] + "." + payload));
                sets[jti] = $"{parts[0]}.{payload}.{Base64Url.EncodeToString(mac)}";
            }
            return answer.ToJsonString();
        };
    }
}
