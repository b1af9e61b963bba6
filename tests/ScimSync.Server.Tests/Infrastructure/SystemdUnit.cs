namespace ScimSync.Server.Tests.Infrastructure;

/// <summary>
/// A unit file of deploy/systemd as the tests read it: the [Service] settings (a key given twice keeps both values)
/// and its ExecStart split into words, with the specifiers it uses (%S, %C) replaced as systemd would.
/// </summary>
public sealed class SystemdUnit
{
    private readonly Dictionary<string, List<string>> _service = new(StringComparer.Ordinal);

    private SystemdUnit(string path)
    {
        Path = path;
        var section = "";
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#') || line.StartsWith(';')) continue;
            if (line.StartsWith('[')) section = line;
            else if (section == "[Service]" && line.IndexOf('=', StringComparison.Ordinal) is > 0 and var eq)
            {
                var key = line[..eq].Trim();
                if (!_service.TryGetValue(key, out var values)) _service[key] = values = [];
                values.Add(line[(eq + 1)..].Trim());
            }
        }
    }

    public string Path { get; }

    /// <summary>deploy/systemd/<paramref name="name"/> in this repository.</summary>
    public static SystemdUnit Load(string name) =>
        new(System.IO.Path.Combine(Observability.MetricNamesTests.RepositoryRoot(), "deploy", "systemd", name));

    /// <summary>The last value of a [Service] setting (systemd's rule for single-valued settings), or null.</summary>
    public string? this[string key] => _service.TryGetValue(key, out var v) ? v[^1] : null;

    /// <summary>
    /// ExecStart's words after the program, with %S (state root, /var/lib) and %C (cache root, /var/cache) replaced by
    /// <paramref name="stateRoot"/> and <paramref name="cacheRoot"/>. The units quote nothing, so words are split on spaces.
    /// </summary>
    public string[] Arguments(string stateRoot = "/var/lib", string cacheRoot = "/var/cache") =>
        Expand(this["ExecStart"] ?? throw new InvalidOperationException($"{Path} has no ExecStart"), stateRoot, cacheRoot)
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..];

    public string Program => this["ExecStart"]!.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];

    public static string Expand(string value, string stateRoot = "/var/lib", string cacheRoot = "/var/cache") =>
        value.Replace("%S", stateRoot, StringComparison.Ordinal).Replace("%C", cacheRoot, StringComparison.Ordinal);

    /// <summary>Every value of a [Service] setting, in file order.</summary>
    public IReadOnlyList<string> All(string key) => _service.TryGetValue(key, out var v) ? v : [];
}
