namespace ScimSync.Cli;

/// <summary>
/// Minimal "--name value" / "--flag" parsing. The contract `scimsync serve --urls URL --data DIR` is
/// fixed by outside tools, so the parser stays small and predictable rather than clever.
/// </summary>
internal sealed class CommandLine
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.OrdinalIgnoreCase);

    public CommandLine(IEnumerable<string> args)
    {
        var list = args.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                var eq = a.IndexOf('=');
                if (eq > 0) { _options[a[2..eq]] = a[(eq + 1)..]; continue; }
                var name = a[2..];
                if (i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal)) _options[name] = list[++i];
                else _options[name] = null;
            }
            else Positional.Add(a);
        }
    }

    public List<string> Positional { get; } = [];

    public string? Get(string name) => _options.TryGetValue(name, out var v) ? v : null;

    public bool Has(string name) => _options.ContainsKey(name);

    public int GetInt(string name, int fallback) =>
        Get(name) is { } s ? int.TryParse(s, out var v) ? v : throw new UsageException($"--{name} needs a whole number, not \"{s}\"") : fallback;

    public IEnumerable<string> Names => _options.Keys;
}

internal sealed class UsageException(string message) : Exception(message);
