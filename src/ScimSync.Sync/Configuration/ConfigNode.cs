using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ScimSync.Sync.Configuration;

/// <summary>A configuration error that names the file, line, column and path of the offending value.</summary>
public sealed class ConfigException(string message) : Exception(message);

/// <summary>
/// One node of the configuration document with its path (<c>targets[1].limits.maxPageSize</c>) and its
/// position in the file, so that every validation error can point the operator at the exact line.
/// Unknown keys are errors: a misspelt <c>scpoe</c> silently ignored would widen what a target receives.
/// </summary>
internal sealed class ConfigNode
{
    private readonly YamlNode _node;
    private readonly string _file;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public string Path { get; }

    private ConfigNode(YamlNode node, string file, string path)
    {
        _node = node;
        _file = file;
        Path = path;
    }

    public static ConfigNode Load(TextReader reader, string file)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(reader);
        }
        catch (YamlException e)
        {
            throw new ConfigException($"{file}:{e.Start.Line}:{e.Start.Column}: {e.InnerException?.Message ?? e.Message}");
        }
        catch (InvalidOperationException e)
        {
            // YamlDotNet reports some structural errors (an unclosed flow collection at the end) this way.
            throw new ConfigException($"{file}:1:1: not valid YAML: {e.Message}");
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode)
            throw new ConfigException($"{file}: the configuration must be a mapping (source:, targets:, ...)");
        return new ConfigNode(stream.Documents[0].RootNode, file, "");
    }

    public ConfigException Error(string message) =>
        new($"{_file}:{_node.Start.Line}:{_node.Start.Column}: {(Path.Length == 0 ? "" : Path + ": ")}{message}");

    private YamlMappingNode Mapping => _node as YamlMappingNode ?? throw Error("expected a mapping (key: value lines)");

    public ConfigNode? Child(string key)
    {
        _read.Add(key);
        return Peek(key);
    }

    /// <summary>
    /// The child without counting it as a known setting: for a retired setting, refused with its own message,
    /// which must not then be offered among the "expected one of" names of other mistakes.
    /// </summary>
    public ConfigNode? Peek(string key)
    {
        foreach (var (k, v) in Mapping.Children)
            if (k is YamlScalarNode s && s.Value == key)
                return v is YamlScalarNode { Style: ScalarStyle.Plain, Value: "" or "~" or "null" } ? null : new ConfigNode(v, _file, Combine(key));
        return null;
    }

    public ConfigNode Required(string key) => Child(key) ?? throw Error($"\"{key}\" is required");

    private string Combine(string key) => Path.Length == 0 ? key : Path + "." + key;

    /// <summary>Call after reading a mapping: anything left over is a typo or an unsupported option.</summary>
    public void RejectUnknownKeys()
    {
        foreach (var (k, v) in Mapping.Children)
        {
            var name = (k as YamlScalarNode)?.Value ?? "";
            if (!_read.Contains(name))
                throw new ConfigNode(k, _file, Combine(name)).Error($"unknown setting; expected one of: {string.Join(", ", _read.Order(StringComparer.Ordinal))}");
        }
    }

    public IReadOnlyList<ConfigNode> Items()
    {
        if (_node is YamlSequenceNode seq)
            return seq.Children.Select((n, i) => new ConfigNode(n, _file, $"{Path}[{i.ToString(CultureInfo.InvariantCulture)}]")).ToArray();
        throw Error("expected a list");
    }

    public IEnumerable<(string Key, ConfigNode Value)> Entries()
    {
        foreach (var (k, v) in Mapping.Children)
        {
            var name = (k as YamlScalarNode)?.Value ?? throw new ConfigNode(k, _file, Path).Error("keys must be plain text");
            _read.Add(name);
            yield return (name, new ConfigNode(v, _file, Combine(name)));
        }
    }

    public bool IsList => _node is YamlSequenceNode;

    public bool IsMapping => _node is YamlMappingNode;

    /// <summary>The scalar's text with <c>${NAME}</c> replaced from the environment (secrets stay out of the file).</summary>
    public string Text()
    {
        if (_node is not YamlScalarNode s) throw Error("expected a single value");
        var value = s.Value ?? "";
        var start = value.IndexOf("${", StringComparison.Ordinal);
        while (start >= 0)
        {
            var end = value.IndexOf('}', start);
            if (end < 0) throw Error("unterminated ${...}");
            var name = value[(start + 2)..end];
            var env = Environment.GetEnvironmentVariable(name) ?? throw Error($"environment variable {name} is not set");
            value = value[..start] + env + value[(end + 1)..];
            start = value.IndexOf("${", start + env.Length, StringComparison.Ordinal);
        }
        return value;
    }

    public IReadOnlyList<string> TextList() => IsList ? Items().Select(i => i.Text()).ToArray() : [Text()];

    public int Int(int min, int max)
    {
        if (!int.TryParse(Text(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
            throw Error($"expected a whole number from {min} to {max}");
        return v;
    }

    public double Number(double min, double max)
    {
        if (!double.TryParse(Text(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v < min || v > max)
            throw Error($"expected a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}");
        return v;
    }

    public bool Bool() => Text().ToLowerInvariant() switch
    {
        "true" or "yes" or "on" => true,
        "false" or "no" or "off" => false,
        _ => throw Error("expected true or false"),
    };

    public Uri Url()
    {
        if (!Uri.TryCreate(Text(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw Error("expected an absolute http:// or https:// URL");
        return uri;
    }

    /// <summary>
    /// Durations as operators write them: <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>2h</c>, <c>1d</c>; from 10 ms
    /// (0 would make a polling loop spin) to 30 days (timers cannot wait much longer).
    /// </summary>
    public TimeSpan Duration()
    {
        const string expected = "expected a duration from 10ms to 30d, such as 500ms, 30s, 5m, 2h or 1d";
        var text = Text().Trim();
        var unitStart = text.Length;
        while (unitStart > 0 && char.IsLetter(text[unitStart - 1])) unitStart--;
        if (!double.TryParse(text[..unitStart], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || !double.IsFinite(n))
            throw Error(expected);
        var seconds = text[unitStart..] switch
        {
            "ms" => n / 1000,
            "s" or "" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86400,
            _ => throw Error(expected),
        };
        if (seconds < 0.01 || seconds > 30 * 86400) throw Error(expected);
        return TimeSpan.FromSeconds(seconds);
    }

    public T Enum<T>() where T : struct, Enum
    {
        var text = Text().Replace("-", "", StringComparison.Ordinal);
        // Enum.TryParse also takes numbers and comma lists ("report,delete" would OR two reactions): neither is a setting.
        if (!text.Contains(',', StringComparison.Ordinal) && System.Enum.TryParse<T>(text, ignoreCase: true, out var v) && System.Enum.IsDefined(v) && !int.TryParse(text, out _)) return v;
        throw Error($"expected one of: {string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}");
    }
}
