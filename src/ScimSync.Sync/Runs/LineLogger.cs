using Microsoft.Extensions.Logging;

namespace ScimSync.Sync.Runs;

/// <summary>
/// Entries of Information and above as lines of text, each prefixed with the local time: how the engine
/// spoke before it logged through <see cref="ILogger"/>. Kept only for a host that hands the engine an
/// <c>Action&lt;string&gt;</c> (the command line until it configures logging); structured fields are lost here.
/// </summary>
internal sealed class LineLogger(Action<string> write) : ILogger, ILoggerFactory
{
    public static ILoggerFactory Factory(Action<string> write) => new LineLogger(write);

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        write($"{DateTimeOffset.Now:HH:mm:ss} {formatter(state, exception)}");
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("LineLogger writes lines only");

    public void Dispose()
    {
    }
}
