using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace ScimSync.Cli;

/// <summary>
/// Everything a command prints on standard output. Two readers: a person at a terminal (Spectre tables,
/// colour) and a script or a file (plain aligned text that never wraps or truncates, since Spectre would
/// wrap at 80 columns when it cannot measure a terminal). JSON never escapes what a person might copy: a
/// signing secret with '+' printed as <c>\u002B</c> is copied wrong, and the relaxed encoder still writes valid JSON.
/// </summary>
internal static class Output
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public static readonly JsonWriterOptions JsonWriter = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A person is reading: standard output is a terminal.</summary>
    public static bool Interactive => !Console.IsOutputRedirected;

    public static void WriteJson(JsonNode? node) => Console.Out.WriteLine(node?.ToJsonString(Json) ?? "null");

    public static void WriteJson<T>(T value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>A table: boxed on a terminal; otherwise columns aligned with spaces, one line per row, nothing cut.</summary>
    public static void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.ToList();
        if (Interactive)
        {
            var table = new Table().AddColumns(headers.Select(h => new TableColumn(Markup.Escape(h))).ToArray());
            foreach (var row in all) table.AddRow(row.Select(Markup.Escape).ToArray());
            AnsiConsole.Write(table);
            return;
        }
        var widths = headers.Select((h, i) => all.Select(r => i < r.Count ? r[i].Length : 0).Append(h.Length).Max()).ToArray();
        string Line(IReadOnlyList<string> cells) =>
            string.Join("  ", cells.Select((c, i) => i == cells.Count - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
        Console.Out.WriteLine(Line(headers));
        foreach (var row in all) Console.Out.WriteLine(Line(row));
    }

    /// <summary>A line for a person; <paramref name="style"/> (a Spectre style such as "yellow") only colours it on a terminal.</summary>
    public static void Line(string text, string? style = null)
    {
        if (Interactive && style is not null) AnsiConsole.MarkupLine($"[{style}]{Markup.Escape(text)}[/]");
        else Console.Out.WriteLine(text);
    }

    /// <summary>A heading: a rule across a terminal, a plain line elsewhere.</summary>
    public static void Heading(string text)
    {
        if (Interactive) AnsiConsole.Write(new Rule(Markup.Escape(text)));
        else Console.Out.WriteLine($"== {text}");
    }

    /// <summary>
    /// A JSON object for a person: one "name: value" line per field (nested fields as "stats.pending"), strings
    /// unquoted and unescaped, so that a secret can be copied as it is printed.
    /// </summary>
    public static void Fields(JsonObject obj)
    {
        var lines = new List<(string Key, string Value)>();
        void Walk(string prefix, JsonNode? node)
        {
            switch (node)
            {
                case JsonObject o when o.Count > 0:
                    foreach (var (k, v) in o) Walk(prefix.Length == 0 ? k : $"{prefix}.{k}", v);
                    break;
                case JsonArray a:
                    lines.Add((prefix, string.Join(", ", a.Select(x => x is JsonValue ? x.ToString() : x?.ToJsonString(Json) ?? "null"))));
                    break;
                case null:
                    lines.Add((prefix, ""));
                    break;
                default:
                    lines.Add((prefix, node is JsonValue ? node.ToString() : node.ToJsonString(Json)));
                    break;
            }
        }
        Walk("", obj);
        var width = lines.Count == 0 ? 0 : lines.Max(l => l.Key.Length) + 1;
        foreach (var (k, v) in lines) Console.Out.WriteLine($"{(k + ":").PadRight(width)} {v}".TrimEnd());
    }
}
