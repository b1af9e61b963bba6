using Npgsql;

namespace ScimSync.Sync.Tests.State;

/// <summary>
/// The real PostgreSQL the engine's PostgreSQL tests use: SCIMSYNC_TEST_POSTGRES, a connection string (.ci/run starts a
/// throwaway cluster and exports it; locally, `bash .ci/postgres start DIR PORT` prints one). Unset or <c>skip</c>
/// outside CI, the tests report skipped; under CI (CI=true) that is a failure, never a silent skip.
/// Each test gets a schema of its own, dropped afterwards.
/// </summary>
internal static class TestPostgres
{
    public const string EnvironmentVariable = "SCIMSYNC_TEST_POSTGRES";

    private static bool UnderCi => Environment.GetEnvironmentVariable("CI") is "true" or "1";

    public static string ConnectionString()
    {
        var given = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (given is { Length: > 0 } && given != "skip") return given;
        if (UnderCi) throw new InvalidOperationException($"{EnvironmentVariable} is {(given == "skip" ? "skip" : "not set")} under CI: the engine's PostgreSQL tests must run there (.ci/run exports it)");
        throw new SkipException($"{EnvironmentVariable} is not set: this test needs PostgreSQL (bash .ci/postgres start DIR PORT prints a connection string)");
    }

    /// <summary>A fresh schema's name and its <c>postgres://</c> URL (the form `sync watch --state` takes).</summary>
    public static (string Schema, string Url) NewSchema()
    {
        var b = new NpgsqlConnectionStringBuilder(ConnectionString());
        var schema = "e_" + Guid.NewGuid().ToString("N")[..16];
        return (schema, $"postgres://{Uri.EscapeDataString(b.Username ?? "postgres")}@{b.Host}:{b.Port}/{Uri.EscapeDataString(b.Database ?? "postgres")}?schema={schema}");
    }

    public static void DropSchema(string schema)
    {
        var b = new NpgsqlConnectionStringBuilder(ConnectionString()) { Pooling = false };
        using var c = new NpgsqlConnection(b.ConnectionString);
        c.Open();
        using var cmd = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{schema}\" CASCADE", c);
        cmd.ExecuteNonQuery();
    }
}
