using System.Globalization;
using System.Text.Json.Nodes;

namespace ScimSync.OperatorConsole.Components;

/// <summary>How values read on a page: times in UTC, ages in words, attribute values as compact JSON ("(none)" for none).</summary>
internal static class Format
{
    public static string Time(DateTimeOffset? at) => at is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "never";

    public static string Age(DateTimeOffset? since, DateTimeOffset now)
    {
        if (since is not { } s) return "–";
        var age = now - s;
        if (age < TimeSpan.Zero) age = TimeSpan.Zero;
        return age.TotalSeconds < 90 ? $"{age.TotalSeconds:F0} s" : age.TotalMinutes < 90 ? $"{age.TotalMinutes:F0} min" : age.TotalHours < 48 ? $"{age.TotalHours:F1} h" : $"{age.TotalDays:F1} d";
    }

    public static string Value(JsonNode? node) => node switch
    {
        null => "(none)",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => node.ToJsonString(),
    };

    public static string N(double n) => n.ToString(n % 1 == 0 ? "N0" : "N1", CultureInfo.InvariantCulture);
}
