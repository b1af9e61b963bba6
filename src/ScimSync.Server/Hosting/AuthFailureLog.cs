using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace ScimSync.Server.Hosting;

/// <summary>
/// Logs refused bearer tokens without letting a client flood the log: at most one entry per client address per
/// <see cref="Window"/>, carrying how many failures from that address went unlogged since its previous entry.
/// A burst is therefore seen at once and counted later, on the address's next failure after the window; a
/// single failure is never hidden. The table of addresses is bounded: past <see cref="MaxAddresses"/> it is
/// swept of quiet ones, and while still full, new addresses share one entry ("*").
/// </summary>
internal sealed class AuthFailureLog(ILogger logger, TimeProvider time)
{
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    public const int MaxAddresses = 10_000;

    private sealed class Tally
    {
        public DateTimeOffset LoggedAt;
        public int Suppressed;
    }

    private readonly ConcurrentDictionary<string, Tally> _addresses = new(StringComparer.Ordinal);

    public void Failed(string? clientAddress, string method, string path, string reason)
    {
        var address = clientAddress ?? "unknown";
        var now = time.GetUtcNow();
        if (!_addresses.ContainsKey(address) && _addresses.Count >= MaxAddresses)
        {
            foreach (var (key, quiet) in _addresses)
                lock (quiet)
                    if (now - quiet.LoggedAt >= Window && quiet.Suppressed == 0) _addresses.TryRemove(key, out _);
            if (_addresses.Count >= MaxAddresses) address = "*";
        }
        var tally = _addresses.GetOrAdd(address, _ => new Tally { LoggedAt = DateTimeOffset.MinValue });
        int suppressed;
        lock (tally)
        {
            if (now - tally.LoggedAt < Window)
            {
                tally.Suppressed++;
                return;
            }
            suppressed = tally.Suppressed;
            tally.Suppressed = 0;
            tally.LoggedAt = now;
        }
        ServerLog.AuthenticationFailed(logger, address, method, path, reason, suppressed);
    }
}
