using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using ScimSync.Sync.Accounts;

namespace ScimSync.Sync.Sources;

/// <summary>
/// An HR export as the source of truth (the formats are documented in docs/sync.md, "HR export files"):
/// <list type="bullet">
/// <item>CSV: UTF-8 (a byte order mark is skipped), comma-separated, RFC 4180 quoting (a quoted field may
/// hold commas, "" and line breaks), a header row whose names are matched case-insensitively and in any
/// order. Columns: id and userName (required), givenName, familyName, displayName, email (one work
/// address), active (true/false, default true), kind, userType, endDate (ISO 8601; a date without a zone
/// is UTC), department (the enterprise extension's), title, groups (group names separated by ';'). Unknown
/// columns are ignored; an empty cell is an absent value.</item>
/// <item>JSON: a UTF-8 array of SCIM-shaped users (core attributes and extensions as SCIM writes them),
/// each with an "id" and a "userName", and optionally "groups": names, or objects with a "display".</item>
/// </list>
/// Groups are identified by name (an export has no group ids). Every error names the file and line (CSV)
/// or item (JSON), and the previous import stays in force.
/// </summary>
public static class FileSource
{
    private const string Enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    /// <exception cref="SourceFileRejectedException">The export is not one the engine can read (the message names the file and where).</exception>
    public static SourceSnapshot Read(string path, FileFormat format, AccountKindRules kinds)
    {
        try
        {
            return ReadExport(path, format, kinds);
        }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a JSON value of the wrong kind where a string was expected.
            throw new SourceFileRejectedException(e is FormatException ? e.Message : $"{path}: {e.Message}", e);
        }
    }

    private static SourceSnapshot ReadExport(string path, FileFormat format, AccountKindRules kinds)
    {
        var users = format == FileFormat.Json ? ReadJson(path) : ReadCsv(path);
        var accounts = new List<SourceAccount>();
        var groups = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (line, doc, groupNames) in users)
        {
            var id = doc["id"] is JsonValue idValue && idValue.TryGetValue<string>(out var text) ? text : null;
            if (string.IsNullOrEmpty(id) || doc["userName"] is not JsonValue name || !name.TryGetValue<string>(out _))
                throw new FormatException($"{path}:{line}: every account needs an id and a userName, as strings");
            if (!seen.Add(id)) throw new FormatException($"{path}:{line}: id \"{id}\" appears twice");
            accounts.Add(SourceAccount.From(doc, kinds));
            foreach (var g in groupNames)
            {
                if (!groups.TryGetValue(g, out var list)) groups[g] = list = [];
                list.Add(id);
            }
        }
        return new SourceSnapshot(accounts, groups.Select(g => new SourceGroup(g.Key, g.Key, g.Value)), null);
    }

    /// <summary>Queue keys of what differs between two imports: changed, added and removed accounts and groups.</summary>
    public static IReadOnlyList<string> Diff(SourceSnapshot previous, SourceSnapshot next)
    {
        var keys = new List<string>();
        foreach (var (id, u) in next.Users)
            if (!previous.Users.TryGetValue(id, out var old) || !old.Json.SequenceEqual(u.Json)) keys.Add(id);
        keys.AddRange(previous.Users.Keys.Where(id => !next.Users.ContainsKey(id)));
        foreach (var id in next.Groups.Keys.Concat(previous.Groups.Keys).Distinct())
        {
            var before = previous.Groups.GetValueOrDefault(id)?.Members ?? [];
            var after = next.Groups.GetValueOrDefault(id)?.Members ?? [];
            if (previous.Groups.ContainsKey(id) && next.Groups.ContainsKey(id) && before.SequenceEqual(after)) continue;
            keys.Add("group:" + id);
            keys.AddRange(before.Except(after).Concat(after.Except(before)));
        }
        return keys.Distinct().ToArray();
    }

    private static IEnumerable<(int Line, JsonObject Doc, IReadOnlyList<string> Groups)> ReadJson(string path)
    {
        if (JsonNode.Parse(File.ReadAllText(path)) is not JsonArray array) throw new FormatException($"{path}: expected a JSON array of users");
        var i = 0;
        foreach (var node in array)
        {
            i++;
            if (node is not JsonObject o) throw new FormatException($"{path}: item {i} is not an object");
            var doc = o.DeepClone().AsObject();
            var groups = (doc["groups"] as JsonArray ?? []).Select(g => (g is JsonObject go ? go["display"] : g) is JsonValue v && v.TryGetValue<string>(out var n) ? n
                : throw new FormatException($"{path}: item {i}: groups are names (strings) or objects with a display name")).ToArray();
            doc.Remove("groups");
            yield return (i, doc, groups);
        }
    }

    private static IEnumerable<(int Line, JsonObject Doc, IReadOnlyList<string> Groups)> ReadCsv(string path)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        using var records = Records(reader, path).GetEnumerator();
        var header = (records.MoveNext() ? records.Current.Fields : throw new FormatException($"{path}: empty file")).Select(h => h.Trim()).ToArray();
        int Col(string name) => Array.FindIndex(header, h => h.Equals(name, StringComparison.OrdinalIgnoreCase));
        var (id, userName, given, family, display, email, active, kind, userType, endDate, department, title, groups) =
            (Col("id"), Col("userName"), Col("givenName"), Col("familyName"), Col("displayName"), Col("email"), Col("active"), Col("kind"),
             Col("userType"), Col("endDate"), Col("department"), Col("title"), Col("groups"));
        if (id < 0 || userName < 0) throw new FormatException($"{path}: the header needs id and userName columns");
        while (records.MoveNext())
        {
            var (lineNo, f) = records.Current;
            if (f is [""]) continue;
            string? Get(int c) => c >= 0 && c < f.Count && f[c].Length > 0 ? f[c] : null;
            var doc = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"), ["id"] = Get(id), ["userName"] = Get(userName) };
            if (Get(given) is not null || Get(family) is not null)
            {
                var name = new JsonObject();
                if (Get(given) is { } g) name["givenName"] = g;
                if (Get(family) is { } fn) name["familyName"] = fn;
                doc["name"] = name;
            }
            if (Get(display) is { } d) doc["displayName"] = d;
            if (Get(email) is { } e) doc["emails"] = new JsonArray(new JsonObject { ["value"] = e, ["type"] = "work", ["primary"] = true });
            if (Get(active) is { } a)
                doc["active"] = bool.TryParse(a, out var b) ? b : throw new FormatException($"{path}:{lineNo}: active must be true or false");
            if (Get(userType) is { } ut) doc["userType"] = ut;
            if (Get(title) is { } t) doc["title"] = t;
            if (Get(department) is { } dep) doc[Enterprise] = new JsonObject { ["department"] = dep };
            if (Get(kind) is not null || Get(endDate) is not null)
            {
                var ext = new JsonObject();
                if (Get(kind) is { } k) ext["kind"] = k;
                if (Get(endDate) is { } end)
                    ext["endDate"] = DateTimeOffset.TryParse(end, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when)
                        ? when.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)
                        : throw new FormatException($"{path}:{lineNo}: endDate \"{end}\" is not a date");
                doc[AccountKindRules.ExtensionUri] = ext;
            }
            var groupNames = Get(groups)?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
            yield return (lineNo, doc, groupNames);
        }
    }

    /// <summary>
    /// RFC 4180 records: commas, double quotes, "" inside quotes, and line breaks inside quotes (a record may
    /// span lines; it is numbered by its first). A quote inside an unquoted field, or one never closed, is
    /// an error with its line, not a silently shifted row.
    /// </summary>
    private static IEnumerable<(int Line, List<string> Fields)> Records(TextReader reader, string path)
    {
        var physical = 0;
        while (reader.ReadLine() is { } line)
        {
            var start = ++physical;
            var fields = new List<string>();
            var sb = new StringBuilder();
            var quoted = false;
            var fieldStart = true;
            for (var i = 0; ; i++)
            {
                if (i == line.Length)
                {
                    if (!quoted) break;
                    // The quoted field goes on: the line break is part of it.
                    line = reader.ReadLine() ?? throw new FormatException($"{path}:{start}: a quoted field is never closed");
                    physical++;
                    sb.Append('\n');
                    i = -1;
                    continue;
                }
                var c = line[i];
                if (quoted)
                {
                    if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; }
                    else if (c == '"')
                    {
                        quoted = false;
                        if (i + 1 < line.Length && line[i + 1] != ',') throw new FormatException($"{path}:{physical}: text after a closing quote");
                    }
                    else sb.Append(c);
                }
                else if (c == '"' && fieldStart) quoted = true;
                else if (c == '"') throw new FormatException($"{path}:{physical}: a quote inside an unquoted field");
                else if (c == ',') { fields.Add(sb.ToString()); sb.Clear(); fieldStart = true; continue; }
                else sb.Append(c);
                fieldStart = false;
            }
            fields.Add(sb.ToString());
            yield return (start, fields);
        }
    }
}
