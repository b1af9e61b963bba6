using System.Text.Json.Nodes;

namespace ScimSync.Server.Tests.Infrastructure;

public static class SetToken
{
    /// <summary>The claims of a compact JWS, without verifying it (tests that verify do so separately).</summary>
    public static JsonObject Claims(string token)
    {
        var part = token.Split('.')[1].Replace('-', '+').Replace('_', '/');
        return JsonNode.Parse(Convert.FromBase64String(part.PadRight(part.Length + (4 - part.Length % 4) % 4, '=')))!.AsObject();
    }
}
