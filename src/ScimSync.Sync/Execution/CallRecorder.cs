using System.Diagnostics;
using System.Net;

namespace ScimSync.Sync.Execution;

/// <summary>One HTTP exchange as a person reads it in a trace: what was asked, and what the endpoint answered.</summary>
/// <param name="Endpoint">Who was asked: "source", or the target's name.</param>
/// <param name="Path">Relative to the SCIM root, query decoded (<c>Users?filter=userName eq "grace"</c>).</param>
/// <param name="Status">The HTTP status, or null when no answer came (then <paramref name="Error"/> says why).</param>
public sealed record RecordedCall(string Endpoint, string Method, string Path, int? Status, double Ms, string? Error = null);

/// <summary>
/// Sits under a <see cref="Client.ScimClient"/> and notes every request it sends and every answer, retries
/// included: provisioning on demand shows each call it made and the target's answer, as the wire saw them
/// (the client's own results hide retries, a 409 resolved by a lookup, or a PATCH by PUT read first).
/// Credentials are never noted: only the method, the path and the status.
/// </summary>
public sealed class CallRecorder : DelegatingHandler
{
    private readonly string _endpoint;
    private readonly Uri _root;
    private readonly List<RecordedCall> _calls = [];
    private readonly Lock _gate = new();

    /// <param name="endpoint">What the trace calls the endpoint: "source", or the target's name.</param>
    /// <param name="inner">Where requests go (a test's fault proxy); null: a handler configured as the client's own is (no redirects followed, decompression).</param>
    public CallRecorder(string endpoint, Uri root, HttpMessageHandler? inner)
        : base(inner is null ? new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.All, AllowAutoRedirect = false } : new Borrowed(inner))
    {
        _endpoint = endpoint;
        var text = root.GetLeftPart(UriPartial.Path);
        _root = new Uri(text.EndsWith('/') ? text : text + "/");
    }

    /// <summary>The calls noted since the last take, in the order they were sent; the list starts again empty.</summary>
    public IReadOnlyList<RecordedCall> Take()
    {
        lock (_gate)
        {
            var taken = _calls.ToArray();
            _calls.Clear();
            return taken;
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var sw = Stopwatch.StartNew();
        var path = PathOf(request.RequestUri);
        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            Note(new RecordedCall(_endpoint, request.Method.Method, path, (int)response.StatusCode, sw.Elapsed.TotalMilliseconds));
            return response;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
        {
            Note(new RecordedCall(_endpoint, request.Method.Method, path, null, sw.Elapsed.TotalMilliseconds, e.Message));
            throw;
        }
    }

    private void Note(RecordedCall call)
    {
        lock (_gate) _calls.Add(call);
    }

    private string PathOf(Uri? uri)
    {
        if (uri is null) return "";
        var text = Uri.UnescapeDataString(uri.GetLeftPart(UriPartial.Query));
        var root = Uri.UnescapeDataString(_root.AbsoluteUri);
        // A token endpoint lives elsewhere: shown whole (its form body, with the secret, is not noted).
        return text.StartsWith(root, StringComparison.Ordinal) ? text[root.Length..] : text;
    }

    /// <summary>A handler that belongs to someone else (a test's): used, never disposed with the recorder.</summary>
    private sealed class Borrowed(HttpMessageHandler inner) : HttpMessageHandler
    {
        private readonly HttpMessageInvoker _invoker = new(inner, disposeHandler: false);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            _invoker.SendAsync(request, cancellationToken);

        protected override void Dispose(bool disposing)
        {
            if (disposing) _invoker.Dispose();
            base.Dispose(disposing);
        }
    }
}
