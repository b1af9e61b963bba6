using System.Diagnostics;
using Npgsql;

namespace ScimSync.Server.Tests.Infrastructure;

/// <summary>
/// The real PostgreSQL server the PostgreSQL tests run against, chosen by SCIMSYNC_TEST_POSTGRES:
/// <list type="bullet">
/// <item>a connection string: that server. .ci/run installs PostgreSQL, starts a throwaway cluster and exports it.</item>
/// <item>unset: a local run starts a cluster itself with the same script (.ci/postgres, as the postgres user when
/// run as root) in a temporary directory, and stops it when the test process exits.</item>
/// <item><c>skip</c>: on a developer's machine without PostgreSQL, the tests that need it report skipped (they are
/// [SkippableFact]s). Under CI (CI=true) this is refused, and so is a missing server: a failure, never a silent skip.</item>
/// </list>
/// Each test gets a schema of its own (<see cref="NewSchemaAsync"/>), so tests run in parallel on one database.
/// </summary>
public static class PostgresServer
{
    public const string EnvironmentVariable = "SCIMSYNC_TEST_POSTGRES";

    private static readonly Lazy<Task<string>> Server = new(StartAsync);

    /// <summary>The server's connection string (Npgsql form), starting a local cluster if needed.</summary>
    /// <exception cref="SkipException">SCIMSYNC_TEST_POSTGRES=skip, outside CI.</exception>
    public static Task<string> ConnectionStringAsync()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) == "skip")
        {
            if (UnderCi) throw new InvalidOperationException($"{EnvironmentVariable}=skip is refused under CI: the PostgreSQL tests must run there");
            throw new SkipException($"{EnvironmentVariable}=skip: this test needs PostgreSQL (unset the variable to start a private cluster, apt-get install postgresql)");
        }
        return Server.Value;
    }

    private static bool UnderCi => Environment.GetEnvironmentVariable("CI") is "true" or "1";

    /// <summary>A fresh, empty schema: (Npgsql connection string with its search path, postgres:// URL naming it).</summary>
    public static async Task<(string ConnectionString, string Url)> NewSchemaAsync()
    {
        var cs = await ConnectionStringAsync();
        var schema = "t_" + Guid.NewGuid().ToString("N")[..16];
        var b = new NpgsqlConnectionStringBuilder(cs) { SearchPath = schema };
        var url = $"postgres://{Uri.EscapeDataString(b.Username ?? "postgres")}@{b.Host}:{b.Port}/{Uri.EscapeDataString(b.Database ?? "postgres")}?schema={schema}";
        return (b.ConnectionString, url);
    }

    /// <summary>Runs one statement on the test server, outside any test's schema.</summary>
    public static async Task ExecuteAsync(string sql)
    {
        var b = new NpgsqlConnectionStringBuilder(await ConnectionStringAsync()) { Pooling = false };
        await using var c = new NpgsqlConnection(b.ConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Drops a schema made by <see cref="NewSchemaAsync"/>.</summary>
    public static async Task DropSchemaAsync(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        var schema = b.SearchPath;
        b.SearchPath = null;
        b.Pooling = false;
        await using var c = new NpgsqlConnection(b.ConnectionString);
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{schema}\" CASCADE", c);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<string> StartAsync()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } given) return given;
        if (UnderCi)
            throw new InvalidOperationException($"{EnvironmentVariable} is not set: .ci/run starts PostgreSQL and exports it; the PostgreSQL tests cannot run without it");
        var script = FindScript() ?? throw new InvalidOperationException($"Set {EnvironmentVariable} (a connection string, or skip), or run from the repository so that .ci/postgres can start a cluster");
        await RemoveOrphansAsync(script);
        var dir = Path.Combine(Path.GetTempPath(), ClusterPrefix + Guid.NewGuid().ToString("N")[..8]);
        var port = ServeProcess.FreePort();
        var (code, output) = await RunAsync(script, "start", dir, port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (code != 0)
            throw new InvalidOperationException($".ci/postgres could not start a cluster (exit {code}): {output.Trim()}. Install PostgreSQL (apt-get install postgresql), or set {EnvironmentVariable}=skip to skip the tests that need it");
        await File.WriteAllTextAsync(Path.Combine(dir, OwnerFile), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            RunAsync(script, "stop", dir).GetAwaiter().GetResult();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return output.Trim().Split('\n')[^1];
    }

    private const string ClusterPrefix = "scimsync-pg-";
    private const string OwnerFile = "owner.pid";

    /// <summary>
    /// Stops and removes the clusters of test processes that are gone: the test host may be ended before its exit
    /// handler has stopped its cluster or removed the directory (about 40 MB each).
    /// </summary>
    private static async Task RemoveOrphansAsync(string script)
    {
        foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), ClusterPrefix + "*"))
        {
            var owner = Path.Combine(dir, OwnerFile);
            // Not yet claimed: another test process may be starting it right now, unless it is old.
            if (!File.Exists(owner) && Directory.GetLastWriteTimeUtc(dir) > DateTime.UtcNow.AddMinutes(-10)) continue;
            if (File.Exists(owner) && int.TryParse(File.ReadAllText(owner), out var pid) && Directory.Exists($"/proc/{pid}")) continue;
            await RunAsync(script, "stop", dir);
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static string? FindScript()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, ".ci", "postgres"))) return Path.Combine(d.FullName, ".ci", "postgres");
        return null;
    }

    private static async Task<(int Code, string Output)> RunAsync(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("bash", [script, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, (await stdout) + (await stderr));
    }
}
