using System.Text.RegularExpressions;

namespace ScimSync.Sync.Tests.Architecture;

/// <summary>
/// Nothing above the state's port knows SQL: the engine (src/ScimSync.Sync) neither references a database driver
/// nor holds a statement; those live in the adapters (src/ScimSync.Sync.State.Sqlite). A cheap scan of the sources,
/// checked against the adapter so that a scanner that finds nothing fails too.
/// </summary>
public sealed partial class StatePortBoundaryTests
{
    // Upper-case keywords as statements spell them; prose ("select from the list") is not matched.
    [GeneratedRegex(@"\bSELECT\b[\s\S]{0,200}?\bFROM\b|\bINSERT\s+(OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b|\bCREATE\s+(TABLE|(UNIQUE\s+)?INDEX)\b|\bALTER\s+TABLE\b|\bPRAGMA\b|\bWITHOUT\s+ROWID\b|\bON\s+CONFLICT\b")]
    private static partial Regex Sql();

    [GeneratedRegex(@"Microsoft\.Data\.Sqlite|\bSqlite(Connection|Command|Transaction|Exception|DataReader)\b|\bNpgsql|System\.Data\.Common|\bDbConnection\b")]
    private static partial Regex Driver();

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ScimSync.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("ScimSync.slnx not found");
    }

    /// <summary>Each finding as <c>file:line: text</c>.</summary>
    private static List<string> Findings(string project, Regex pattern)
    {
        var root = Path.Combine(RepositoryRoot(), "src", project);
        var files = Directory.EnumerateFiles(root, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".csproj", StringComparison.Ordinal))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToArray();
        Assert.NotEmpty(files);
        var found = new List<string>();
        foreach (var file in files)
        {
            var text = File.ReadAllText(file);
            foreach (Match m in pattern.Matches(text))
            {
                var line = text.AsSpan(0, m.Index).Count('\n') + 1;
                found.Add($"{Path.GetRelativePath(root, file)}:{line}: {m.Value.ReplaceLineEndings(" ")}");
            }
        }
        return found;
    }

    [Fact]
    public void The_engine_holds_no_SQL_and_references_no_database_driver()
    {
        var sql = Findings("ScimSync.Sync", Sql());
        Assert.True(sql.Count == 0, "SQL above the state's port:\n" + string.Join("\n", sql));
        var drivers = Findings("ScimSync.Sync", Driver());
        Assert.True(drivers.Count == 0, "a database driver above the state's port:\n" + string.Join("\n", drivers));
    }

    [Fact]
    public void The_scan_finds_the_SQL_and_the_driver_where_they_belong()
    {
        var sql = Findings("ScimSync.Sync.State.Sqlite", Sql());
        Assert.Contains(sql, f => f.StartsWith("SqliteStateWriter.cs:", StringComparison.Ordinal) && f.EndsWith("INSERT INTO", StringComparison.Ordinal));
        Assert.Contains(sql, f => f.Contains("PRAGMA", StringComparison.Ordinal));
        Assert.Contains(Findings("ScimSync.Sync.State.Sqlite", Driver()), f => f.StartsWith("ScimSync.Sync.State.Sqlite.csproj", StringComparison.Ordinal));
        var postgres = Findings("ScimSync.Sync.State.Postgres", Sql());
        Assert.Contains(postgres, f => f.StartsWith("PostgresStateWriter.cs:", StringComparison.Ordinal) && f.EndsWith("ON CONFLICT", StringComparison.Ordinal));
        Assert.Contains(postgres, f => f.StartsWith("PostgresTargetLeases.cs:", StringComparison.Ordinal));
        Assert.Contains(Findings("ScimSync.Sync.State.Postgres", Driver()), f => f.StartsWith("ScimSync.Sync.State.Postgres.csproj", StringComparison.Ordinal));
    }
}
