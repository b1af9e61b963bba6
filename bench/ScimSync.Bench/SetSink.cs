using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ScimSync.Bench;

/// <summary>
/// Push receivers in the benchmark process, one endpoint per subscription (<c>/events/{name}</c>), answering
/// 202 to single SETs (application/secevent+jwt) and to batches ({"sets": {...}}). Arrival times come from
/// <see cref="Stopwatch"/>, the same clock the writers use.
/// </summary>
internal sealed class SetReceivers : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Sink> _sinks = new(StringComparer.Ordinal);
    private string _base = "";

    private SetReceivers(WebApplication app) => _app = app;

    public Sink this[string name] => _sinks.GetOrAdd(name, _ => new Sink());

    public string Url(string name) => _base + "/events/" + name;

    public static async Task<SetReceivers> StartAsync()
    {
        var b = WebApplication.CreateSlimBuilder();
        b.Logging.ClearProviders();
        b.WebHost.UseUrls("http://127.0.0.1:0");
        b.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 64 * 1024 * 1024);
        var app = b.Build();
        var r = new SetReceivers(app);
        app.MapPost("/events/{name}", async (string name, HttpContext ctx) =>
        {
            using var reader = new StreamReader(ctx.Request.Body);
            var body = await reader.ReadToEndAsync();
            var at = Stopwatch.GetTimestamp();
            var sink = r[name];
            if (ctx.Request.ContentType?.StartsWith("application/json", StringComparison.Ordinal) == true)
            {
                using var doc = JsonDocument.Parse(body);
                var n = 0;
                foreach (var set in doc.RootElement.GetProperty("sets").EnumerateObject())
                {
                    sink.Observe(set.Value.GetString()!, at);
                    n++;
                }
                sink.Requests(n);
            }
            else
            {
                sink.Observe(body, at);
                sink.Requests(1);
            }
            ctx.Response.StatusCode = 202;
        });
        await app.StartAsync();
        r._base = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return r;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>What one endpoint received.</summary>
    internal sealed class Sink
    {
        private int _count;
        private int _requests;

        public int Count => Volatile.Read(ref _count);
        public int RequestCount => Volatile.Read(ref _requests);

        /// <summary>Resource ids whose first deactivation's arrival is wanted; checked on every SET while non-empty.</summary>
        public ConcurrentDictionary<string, long> Deactivated { get; } = new(StringComparer.Ordinal);
        public ConcurrentDictionary<string, byte> Watch { get; } = new(StringComparer.Ordinal);

        /// <summary>When set, every SET's (resource id, version) and arrival are kept (latency mode).</summary>
        public ConcurrentDictionary<(string Id, string Version), long>? Arrivals { get; set; }

        public void Requests(int sets)
        {
            Interlocked.Add(ref _count, sets);
            Interlocked.Increment(ref _requests);
        }

        public void Observe(string token, long at)
        {
            if (Watch.IsEmpty && Arrivals is null) return;
            using var claims = JsonDocument.Parse(Payload(token));
            var id = claims.RootElement.GetProperty("sub_id").GetProperty("id").GetString()!;
            string? version = null;
            var deactivation = false;
            foreach (var e in claims.RootElement.GetProperty("events").EnumerateObject())
            {
                if (e.Name.EndsWith(":prov:deactivate", StringComparison.Ordinal)) deactivation = true;
                if (version is null && e.Value.TryGetProperty("version", out var v)) version = v.GetString();
            }
            if (deactivation && Watch.ContainsKey(id)) Deactivated.TryAdd(id, at);
            if (Arrivals is not null && version is not null) Arrivals.TryAdd((id, version), at);
        }

        private static byte[] Payload(string token)
        {
            var part = token.Split('.')[1].Replace('-', '+').Replace('_', '/');
            return Convert.FromBase64String(part.PadRight(part.Length + (4 - part.Length % 4) % 4, '='));
        }
    }
}

/// <summary>
/// CPU use over a phase, so that figures from this shared two-core machine say what else was running: the
/// whole machine (/proc/stat), the server process, this benchmark process (writers and receivers), the wrk
/// runs that ended during the phase (children this process reaped), the rest.
/// </summary>
internal sealed class LoadSample
{
    private readonly int _serverPid;
    private readonly MachineCpu _machine;
    private readonly long _serverTicks;
    private readonly TimeSpan _bench;
    private readonly long _children;
    private readonly double _load1;

    public LoadSample(int serverPid)
    {
        _serverPid = serverPid;
        _machine = MachineCpu.Read();
        _serverTicks = ProcessTicks(serverPid);
        _bench = Process.GetCurrentProcess().TotalProcessorTime;
        _children = ReapedChildrenTicks();
        _load1 = LoadAverage();
    }

    /// <summary>
    /// Shares of both cores since the sample was taken (1 = both cores busy), the VM's steal in seconds of one core,
    /// and the 1-minute load average then and now. <see cref="CoreSeconds"/>: the time elapsed, summed over both
    /// cores (a share times it is CPU seconds).
    /// </summary>
    public sealed record Shares(double Machine, double Server, double Bench, double Wrk, double Other, double StealSeconds, double Load1Start, double Load1End)
    {
        public double CoreSeconds { get; init; }

        /// <summary>CPU microseconds per request of a share (<see cref="Server"/>, <see cref="Other"/>...).</summary>
        public double MicrosPer(double share, long requests) => requests == 0 ? 0 : share * CoreSeconds * 1e6 / requests;
    }

    public Shares? Measure()
    {
        var now = MachineCpu.Read();
        var (busy, total) = (now.Busy, now.Total);
        var elapsedTicks = (double)(total - _machine.Total);
        if (elapsedTicks <= 0) return null;
        // /proc/stat counts all CPUs; express everything as a share of the whole machine (100 % = both cores).
        var machine = (busy - _machine.Busy) / elapsedTicks;
        var server = (ProcessTicks(_serverPid) - _serverTicks) / elapsedTicks;
        var tickSeconds = 1.0 / 100; // USER_HZ
        var bench = (Process.GetCurrentProcess().TotalProcessorTime - _bench).TotalSeconds / tickSeconds / elapsedTicks;
        var wrk = (ReapedChildrenTicks() - _children) / elapsedTicks;
        return new Shares(machine, server, bench, wrk, Math.Max(0, machine - server - bench - wrk), now.StealSecondsSince(_machine), _load1, LoadAverage())
        {
            CoreSeconds = elapsedTicks * tickSeconds,
        };
    }

    public string Describe()
    {
        if (Measure() is not { } s) return "load: n/a";
        var wrkPart = s.Wrk > 0 ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $", wrk {s.Wrk:P0}") : "";
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"CPU (share of both cores): machine {s.Machine:P0}, server {s.Server:P0}, benchmark process {s.Bench:P0}{wrkPart}, other processes {s.Other:P0}; steal {s.StealSeconds:F1} s; load average {s.Load1Start:F2} → {s.Load1End:F2}");
    }

    /// <summary>The whole machine only, for phases that start several server processes in turn.</summary>
    public string DescribeMachine()
    {
        var now = MachineCpu.Read();
        var elapsedTicks = (double)(now.Total - _machine.Total);
        return elapsedTicks <= 0 ? "load: n/a" : string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"CPU busy (share of both cores) {(now.Busy - _machine.Busy) / elapsedTicks:P0}; steal {now.StealSecondsSince(_machine):F1} s; load average {_load1:F2} → {LoadAverage():F2}");
    }

    /// <summary>utime + stime (fields 14 and 15 of /proc/PID/stat), or cutime + cstime with <paramref name="first"/> 13.</summary>
    private static long ProcessTicks(int pid, int first = 11)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(f[first], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(f[first + 1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>CPU of children this process has waited for (cutime + cstime): the wrk runs, once they end.</summary>
    private static long ReapedChildrenTicks() => ProcessTicks(Environment.ProcessId, 13);

    private static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
}
