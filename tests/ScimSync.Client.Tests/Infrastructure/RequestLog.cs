using System.Collections.Concurrent;
using System.Net;

namespace ScimSync.Client.Tests.Infrastructure;

/// <summary>What a client actually put on the wire: method, URI and the status it got back.</summary>
public sealed class RequestLog
{
    public sealed record Entry(HttpMethod Method, Uri Uri, HttpStatusCode Status);

    private readonly ConcurrentQueue<Entry> _entries = new();
    private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];
    private int _started;

    public IReadOnlyList<Entry> Entries => _entries.ToArray();

    public HttpMessageHandler Handler() => new Recorder(this);

    /// <summary>Completes once <paramref name="count"/> requests have been sent (answered or not).</summary>
    public Task StartedAsync(int count)
    {
        lock (_waiters)
        {
            if (_started >= count) return Task.CompletedTask;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, done));
            return done.Task;
        }
    }

    /// <summary>Requests sent so far, answered or not.</summary>
    public int Started
    {
        get
        {
            lock (_waiters) return _started;
        }
    }

    private void OnStart()
    {
        lock (_waiters)
        {
            _started++;
            foreach (var w in _waiters.Where(w => w.Count <= _started)) w.Done.TrySetResult();
            _waiters.RemoveAll(w => w.Count <= _started);
        }
    }

    /// <summary>The value of a query parameter, or null ("" for a bare name such as "cursor").</summary>
    public static string? Query(Uri uri, string name)
    {
        foreach (var part in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            var key = Uri.UnescapeDataString(eq < 0 ? part : part[..eq]);
            if (key == name) return eq < 0 ? "" : Uri.UnescapeDataString(part[(eq + 1)..]);
        }
        return null;
    }

    private sealed class Recorder(RequestLog log) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            log.OnStart();
            var response = await base.SendAsync(request, cancellationToken);
            log._entries.Enqueue(new Entry(request.Method, request.RequestUri!, response.StatusCode));
            return response;
        }
    }
}
