using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace ScimSync.Sync.Tests.Observability;

/// <summary>docs/logging.md's event-id table and the [LoggerMessage] methods in the code say the same thing.</summary>
public sealed partial class LogEventTableTests
{
    [Fact]
    public void Every_event_id_is_unique_and_documented_at_its_level()
    {
        // Every ScimSync assembly the command line carries (this project references it).
        var assemblies = new[] { "ScimSync.Server", "ScimSync.Feed", "ScimSync.Relay.Nats", "ScimSync.Sync", "ScimSync.Sync.State.Sqlite", "ScimSync.Client", "ScimSync.Store.Sqlite", "ScimSync.OperatorConsole", "ScimSync.Cli", "scimsync" }
            .Select(n => { try { return Assembly.Load(n); } catch (FileNotFoundException) { return null; } })
            .OfType<Assembly>().ToArray();
        var events = assemblies.SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is not null)
            .Select(x => (Id: x.Attribute!.EventId, x.Attribute.Level, Name: $"{x.Method.DeclaringType!.Name}.{x.Method.Name}"))
            .ToArray();
        Assert.True(events.Length > 40, $"found only {events.Length} logging methods");
        var twice = events.GroupBy(e => e.Id).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(e => e.Name))}").ToArray();
        Assert.True(twice.Length == 0, "event ids used twice: " + string.Join("; ", twice));

        var docs = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "logging.md"));
        var rows = Row().Matches(docs).ToDictionary(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), m => m.Groups[2].Value.Trim());
        foreach (var (id, level, name) in events)
        {
            Assert.True(rows.TryGetValue(id, out var documented), $"event {id} ({name}) is not in docs/logging.md");
            // A method without a fixed level takes it per call; its row says which (e.g. "Information in watch mode, Debug ...").
            if (level != LogLevel.None) Assert.True(documented == level.ToString(), $"event {id} ({name}) is {level} in the code, \"{documented}\" in docs/logging.md");
        }
        var stale = rows.Keys.Except(events.Select(e => e.Id)).ToArray();
        Assert.True(stale.Length == 0, "docs/logging.md lists ids no code logs: " + string.Join(", ", stale));
    }

    [GeneratedRegex(@"^\| (\d{4}) \| ([^|]+) \|", RegexOptions.Multiline)]
    private static partial Regex Row();

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ScimSync.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("ScimSync.slnx not found");
    }
}
