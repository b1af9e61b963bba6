using Microsoft.Extensions.Logging;

namespace ScimSync.Sync.Tests;

/// <summary>One log entry as the engine wrote it: its id, level, text, and structured fields.</summary>
public sealed record LogEntry(string Category, LogLevel Level, EventId Id, string Message, IReadOnlyDictionary<string, object?> Fields)
{
    public object? this[string field] => Fields.GetValueOrDefault(field);
}

/// <summary>
/// A logger factory that keeps every entry with its fields (what a JSON log would carry), for tests to
/// assert on structure rather than on text.
/// </summary>
public sealed class CapturedLogs(LogLevel minimum = LogLevel.Trace) : ILoggerFactory
{
    private readonly List<LogEntry> _entries = [];

    public IReadOnlyList<LogEntry> Entries
    {
        get { lock (_entries) return _entries.ToArray(); }
    }

    public IReadOnlyList<LogEntry> WithId(int id) => Entries.Where(e => e.Id.Id == id).ToArray();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner._minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var fields = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? pairs.Where(p => p.Key != "{OriginalFormat}").ToDictionary(p => p.Key, p => p.Value)
                : new Dictionary<string, object?>();
            lock (owner._entries) owner._entries.Add(new LogEntry(category, logLevel, eventId, formatter(state, exception), fields));
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    }

    private readonly LogLevel _minimum = minimum;
}
