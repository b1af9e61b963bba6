using Npgsql;

namespace ScimSync.Postgres;

/// <summary>
/// The one reading of a PostgreSQL address, for the server's store and the engine's state alike: a URL
/// <c>postgres[ql]://[user[:password]@]host[:port]/database[?query]</c> or an Npgsql connection string, and how it
/// is shown to people (never with its password).
/// </summary>
public static class PostgresUrl
{
    /// <summary>Whether <paramref name="text"/> names a PostgreSQL database by URL.</summary>
    public static bool IsUrl(string? text) =>
        text is not null && (text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The database as people may see it (start-up line, status, messages): <c>postgres://user@host:port/database?schema=NAME</c>,
    /// never the password, whichever form <paramref name="connection"/> has.
    /// </summary>
    public static string Describe(string connection) => Describe(new NpgsqlConnectionStringBuilder(ToConnectionString(connection)));

    public static string Describe(NpgsqlConnectionStringBuilder b)
    {
        // A Unix socket's directory goes in the query, as libpq writes it: a path is no URL host.
        var socket = b.Host?.StartsWith('/') == true;
        var query = (socket ? "&host=" + b.Host : "") + (string.IsNullOrEmpty(b.SearchPath) ? "" : "&schema=" + Uri.EscapeDataString(b.SearchPath));
        return $"postgres://{(string.IsNullOrEmpty(b.Username) ? "" : Uri.EscapeDataString(b.Username) + "@")}{(socket ? "" : b.Host)}:{b.Port}/{Uri.EscapeDataString(b.Database ?? "")}"
            + (query.Length > 0 ? "?" + query[1..] : "");
    }

    /// <summary>
    /// An Npgsql connection string from a URL <c>postgres[ql]://[user[:password]@]host[:port]/database[?query]</c>,
    /// query keys <c>schema</c> (tables live in this schema, created if missing), <c>host</c> (as libpq reads it: a
    /// directory, for PostgreSQL's Unix socket in it, <c>postgres://user@:5432/db?host=/var/run/postgresql</c>), <c>sslmode</c>,
    /// <c>pool</c> (most connections of this process, default <see cref="DefaultPool"/>) and <c>application_name</c>;
    /// or the text itself when it is not a URL (an Npgsql connection string, whose own defaults then apply).
    /// </summary>
    public static string ToConnectionString(string connection)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connection);
        if (!IsUrl(connection)) return connection;
        // No host (postgres://user@:5432/db?host=/run/postgresql, libpq's form for a socket) is not a URI .NET reads;
        // without a host key either, this means localhost over TCP (libpq would take its default socket instead).
        var uri = new Uri(System.Text.RegularExpressions.Regex.Replace(connection, "^(postgres(?:ql)?://(?:[^@/?#]*@)?)(?=[:/])", "${1}localhost",
            System.Text.RegularExpressions.RegexOptions.IgnoreCase));
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')) is { Length: > 0 } db ? db : "postgres",
            MaxPoolSize = DefaultPool,
        };
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            b.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length > 1) b.Password = Uri.UnescapeDataString(parts[1]);
        }
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            var value = kv.Length > 1 ? Uri.UnescapeDataString(kv[1]) : "";
            switch (Uri.UnescapeDataString(kv[0]))
            {
                case "schema": b.SearchPath = value; break;
                case "host": b.Host = value; break;
                case "sslmode": b.SslMode = Enum.Parse<SslMode>(value.Replace("-", "", StringComparison.Ordinal), ignoreCase: true); break;
                case "pool": b.MaxPoolSize = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "application_name": b.ApplicationName = value; break;
                default: throw new ArgumentException($"Unknown option \"{kv[0]}\" in the PostgreSQL URL (known: schema, host, sslmode, pool, application_name)", nameof(connection));
            }
        }
        return b.ConnectionString;
    }

    /// <summary>
    /// Most connections a process keeps when the URL does not say (<c>pool</c>): four per core of this machine, at
    /// least 16 and at most Npgsql's 100. PostgreSQL runs a process per connection; on two cores, 32 concurrent
    /// requests on 32 backends spent their time switching between them (GET by id p99 13-20 ms, against 5-6 ms
    /// with 16, at the same rate; docs/benchmarks.md). A request beyond the pool waits for a free connection
    /// (Npgsql's Timeout, 15 s; then a 503 to retry), and several instances stay within PostgreSQL's
    /// max_connections.
    /// </summary>
    public static int DefaultPool => Math.Clamp(4 * Environment.ProcessorCount, 16, 100);

    /// <summary>Quotes a schema name for SQL text (schemas cannot be parameters).</summary>
    public static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
