using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace ScimSync.Sync.Tests.Architecture;

/// <summary>
/// No namespace of ScimSync.Sync depends, through any chain, on itself: each capability can be read (and moved)
/// without the ones that build on it. The graph is read from the source files: a file in namespace A depends on
/// namespace B when it names a type declared in B and can see B (a using directive, B enclosing A, or the name
/// qualified: <c>ScimSync.Sync.B.T</c> or <c>B.T</c>).
/// </summary>
public sealed partial class NamespaceCycleTests
{
    private const string Root = "ScimSync.Sync";

    private static string SourceDirectory([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "src", "ScimSync.Sync"));

    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex Namespace();

    [GeneratedRegex(@"^\s*using\s+(?:static\s+)?([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex Using();

    [GeneratedRegex(@"\b(?:public|internal|private|protected|file)?\s*(?:sealed\s+|static\s+|abstract\s+|partial\s+|readonly\s+)*(?:class|record(?:\s+struct)?|struct|interface|enum)\s+(\w+)")]
    private static partial Regex Declaration();

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/|@""(?:[^""]|"""")*""|""(?:\\.|[^""\\\n])*""", RegexOptions.Singleline)]
    private static partial Regex CommentsAndStrings();

    [GeneratedRegex(@"[A-Za-z_][\w.]*")]
    private static partial Regex Names();

    private sealed record SourceFile(string Path, string Namespace, string Code, IReadOnlySet<string> Usings);

    private static IReadOnlyList<SourceFile> Read(string dir) => Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories)
        .Where(p => !p.Contains($"{System.IO.Path.DirectorySeparatorChar}obj{System.IO.Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            && !p.Contains($"{System.IO.Path.DirectorySeparatorChar}bin{System.IO.Path.DirectorySeparatorChar}", StringComparison.Ordinal))
        .Select(p =>
        {
            var text = File.ReadAllText(p);
            var code = CommentsAndStrings().Replace(text, " ");
            return new SourceFile(p, Namespace().Match(code) is { Success: true } m ? m.Groups[1].Value : Root, code,
                Using().Matches(code).Select(u => u.Groups[1].Value).ToHashSet(StringComparer.Ordinal));
        }).ToArray();

    /// <summary>Namespace → the namespaces of ScimSync.Sync it depends on, each with a file that shows it.</summary>
    internal static Dictionary<string, Dictionary<string, string>> Graph(string dir)
    {
        var files = Read(dir);
        var declared = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal); // namespace → type names
        foreach (var f in files)
        {
            if (!declared.TryGetValue(f.Namespace, out var names)) declared[f.Namespace] = names = new HashSet<string>(StringComparer.Ordinal);
            foreach (Match d in Declaration().Matches(f.Code)) names.Add(d.Groups[1].Value);
        }
        var graph = declared.Keys.ToDictionary(n => n, _ => new Dictionary<string, string>(StringComparer.Ordinal), StringComparer.Ordinal);
        foreach (var f in files)
        {
            var visible = declared.Keys.Where(b => b != f.Namespace && (f.Usings.Contains(b) || f.Namespace.StartsWith(b + ".", StringComparison.Ordinal))).ToHashSet();
            foreach (Match m in Names().Matches(f.Code))
            {
                var parts = m.Value.Split('.');
                for (var i = 0; i < parts.Length; i++)
                {
                    // A qualified name: ScimSync.Sync.B.T, or B.T seen from inside ScimSync.Sync.
                    var qualifier = string.Join('.', parts[..i]);
                    foreach (var b in new[] { qualifier, Root + "." + qualifier }.Where(q => i > 0 && declared.ContainsKey(q)))
                        if (b != f.Namespace && declared[b].Contains(parts[i])) graph[f.Namespace].TryAdd(b, f.Path);
                    if (i == 0)
                        foreach (var b in visible)
                            if (declared[b].Contains(parts[0]) && !declared[f.Namespace].Contains(parts[0])) graph[f.Namespace].TryAdd(b, f.Path);
                }
            }
        }
        return graph;
    }

    /// <summary>Every cycle's namespaces in order (the first repeated at the end), one per strongly connected group.</summary>
    internal static IReadOnlyList<IReadOnlyList<string>> Cycles(Dictionary<string, Dictionary<string, string>> graph)
    {
        var cycles = new List<IReadOnlyList<string>>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        foreach (var start in graph.Keys.Order(StringComparer.Ordinal))
        {
            if (done.Contains(start)) continue;
            // Shortest way back to start, breadth first.
            var from = new Dictionary<string, string>(StringComparer.Ordinal);
            var queue = new Queue<string>([start]);
            List<string>? cycle = null;
            while (queue.Count > 0 && cycle is null)
            {
                var n = queue.Dequeue();
                foreach (var next in graph.GetValueOrDefault(n)?.Keys ?? Enumerable.Empty<string>())
                {
                    if (next == start)
                    {
                        cycle = [start];
                        for (var at = n; at != start; at = from[at]) cycle.Insert(1, at);
                        cycle.Add(start);
                        break;
                    }
                    if (from.TryAdd(next, n)) queue.Enqueue(next);
                }
            }
            if (cycle is null) continue;
            cycles.Add(cycle);
            done.UnionWith(cycle);
        }
        return cycles;
    }

    /// <summary>
    /// Cycles found and not yet taken apart, each by its namespaces in the order the scan reports it. Not an
    /// allowance to grow: a new cycle fails, and so does one listed here that is gone (then delete its line).
    /// Configuration and Planning: the configured mass-change guard counts planned operations, and the planner
    /// reads the target's configuration. Accounts, Mapping and Sources: an end date is read by its mapped path.
    /// </summary>
    private static readonly string[] NotYetTakenApart =
    [
        "ScimSync.Sync.Accounts -> ScimSync.Sync.Mapping -> ScimSync.Sync.Sources -> ScimSync.Sync.Accounts",
        "ScimSync.Sync.Configuration -> ScimSync.Sync.Planning -> ScimSync.Sync.Configuration",
    ];

    [Fact]
    public void ScimSync_Sync_has_no_namespace_cycles_beyond_those_not_yet_taken_apart()
    {
        var graph = Graph(SourceDirectory());
        Assert.Contains("ScimSync.Sync.Runs", graph.Keys); // the scan found the sources
        var cycles = Cycles(graph);
        Assert.True(cycles.Select(c => string.Join(" -> ", c)).Order(StringComparer.Ordinal).SequenceEqual(NotYetTakenApart), "namespace cycles:\n" + string.Join("\n", cycles.Select(c =>
            string.Join(" -> ", c) + "\n" + string.Join("\n", c.Zip(c.Skip(1)).Select(e => $"    {e.First} -> {e.Second}: {Path.GetFileName(graph[e.First][e.Second])}")))));
    }

    [Fact]
    public void The_scan_sees_a_cycle_made_by_a_using_and_by_a_qualified_name()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scimsync-ns-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "A.cs"), "using ScimSync.Sync.B;\nnamespace ScimSync.Sync.A;\npublic sealed class Alpha { Beta? b; }\n");
            File.WriteAllText(Path.Combine(dir, "B.cs"), "namespace ScimSync.Sync.B;\n// Alpha in a comment does not count\npublic sealed class Beta { C.Gamma? c; }\n");
            File.WriteAllText(Path.Combine(dir, "C.cs"), "namespace ScimSync.Sync.C;\npublic sealed class Gamma { ScimSync.Sync.A.Alpha? a; string s = \"B.Beta\"; }\n");
            var cycle = Assert.Single(Cycles(Graph(dir)));
            Assert.Equal(["ScimSync.Sync.A", "ScimSync.Sync.B", "ScimSync.Sync.C", "ScimSync.Sync.A"], cycle);

            File.WriteAllText(Path.Combine(dir, "C.cs"), "namespace ScimSync.Sync.C;\npublic sealed class Gamma { string s = \"ScimSync.Sync.A.Alpha\"; }\n");
            Assert.Empty(Cycles(Graph(dir)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
