using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Server.Tests.Infrastructure;

namespace ScimSync.Server.Tests.Observability;

/// <summary>Refused tokens are logged at most once per address a minute, the rest counted into the next entry.</summary>
public sealed class AuthFailureLogTests(AuthFailureLogTests.Server server) : IClassFixture<AuthFailureLogTests.Server>
{
    public sealed class Server : ScimServerFixture
    {
        public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 2, 9, 0, 0, TimeSpan.Zero));
        public LogCapture Logs { get; } = new();

        protected override void ConfigureBuilder(WebApplicationBuilder builder)
        {
            builder.Services.AddSingleton<TimeProvider>(Time);
            builder.Logging.AddProvider(Logs);
        }
    }

    [Fact]
    public async Task A_burst_is_one_entry_then_a_count()
    {
        using var wrong = server.CreateClient("scimsync_wrong");
        using var none = server.CreateClient(null);
        for (var i = 0; i < 4; i++) Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetScimAsync("Users")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await none.GetScimAsync("Groups")).Status);
        var first = Assert.Single(server.Logs.WithId(1001));
        Assert.Equal(0, first["Suppressed"]);

        server.Time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(HttpStatusCode.Unauthorized, (await none.GetScimAsync("Groups")).Status);
        var entries = server.Logs.WithId(1001);
        Assert.Equal(2, entries.Count);
        Assert.Equal((4, "no bearer token", "/scim/v2/Groups"), (entries[1]["Suppressed"], entries[1]["Reason"], entries[1]["Path"]));
        Assert.Equal("127.0.0.1", entries[1]["ClientAddress"]);
    }
}

/// <summary>Every entry with its structured fields, for assertions on fields rather than text.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly List<(int Id, LogLevel Level, IReadOnlyDictionary<string, object?> Fields)> _entries = [];

    public IReadOnlyList<IReadOnlyDictionary<string, object?>> WithId(int id)
    {
        lock (_entries) return _entries.Where(e => e.Id == id).Select(e => e.Fields).ToArray();
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture owner) : ILogger
    {
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var fields = state is IEnumerable<KeyValuePair<string, object?>> pairs ? pairs.ToDictionary(p => p.Key, p => p.Value) : [];
            lock (owner._entries) owner._entries.Add((eventId.Id, logLevel, fields));
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    }
}
