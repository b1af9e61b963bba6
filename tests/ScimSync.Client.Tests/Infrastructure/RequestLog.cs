using System.Collections.Concurrent;
using System.Net;

namespace ScimSync.Client.Tests.Infrastructure;

/// <summary>What a client actually put on the wire: method, URI and the status it got back.</summary>
public sealed class RequestLog
{
    public sealed record Entry(HttpMethod Method, Uri Uri, HttpStatusCode Status);

    private readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyList<Entry> Entries => _entries.ToArray();

    public HttpMessageHandler Handler() => new Recorder(this);

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
            var response = await base.SendAsync(request, cancellationToken);
            log._entries.Enqueue(new Entry(request.Method, request.RequestUri!, response.StatusCode));
            return response;
        }
    }
}
