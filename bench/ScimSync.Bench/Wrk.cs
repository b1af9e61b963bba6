using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace ScimSync.Bench;

/// <summary>
/// Runs wrk (a C load generator, Debian package "wrk") for the high-rate measurements: a .NET HttpClient
/// loader on the same two cores takes more CPU than the server and would measure itself.
/// </summary>
internal static partial class Wrk
{
    /// <summary>wrk's -t; paced scripts (lua/pace.lua) share their rate between the threads.</summary>
    public const int Threads = 2;

    public sealed record Result(string Name, long Requests, int Connections, double Seconds, double Rate, double P50, double P99, long Errors);

    /// <summary>What <see cref="CreateUsersAsync"/> measured over all its rounds: the rate is created / wrk time.</summary>
    public sealed record Creates(long Requests, long Errors, double Seconds, double P50, double P99, int Rounds)
    {
        public double Rate => (Requests - Errors) / Seconds;
    }

    /// <summary>
    /// POST /Users with create.lua until <paramref name="countUsers"/> says the store holds at least
    /// <paramref name="users"/>. wrk runs for a duration, not a count, so it runs in rounds sized from the rate so
    /// far (the first, 5 s, at <paramref name="firstRate"/>); p50 is weighted by requests, p99 the largest.
    /// </summary>
    public static async Task<Creates> CreateUsersAsync(string label, Uri server, string lua, string token, int users, int connections, double firstRate, Func<Task<int>> countUsers)
    {
        long requests = 0, errors = 0;
        double seconds = 0, p50 = 0, p99 = 0;
        var round = 0;
        for (var have = await countUsers(); have < users; have = await countUsers())
        {
            var rate = seconds > 0 ? (requests - errors) / seconds : firstRate;
            var duration = TimeSpan.FromSeconds(seconds == 0 ? 5 : Math.Clamp(Math.Ceiling((users - have) / (rate * 1.3)), 1, 600));
            var r = await RunAsync("create users", server, Path.Combine(lua, "create.lua"), [token, (++round).ToString(CultureInfo.InvariantCulture)], connections, duration);
            requests += r.Requests; errors += r.Errors; seconds += r.Seconds; p50 += r.P50 * r.Requests; p99 = Math.Max(p99, r.P99);
            Console.WriteLine($"{label}create round {round}: {r.Requests} in {r.Seconds:F1}s, {r.Errors} errors");
        }
        return new Creates(requests, errors, seconds, requests > 0 ? p50 / requests : 0, p99, round);
    }

    public static async Task<Result> RunAsync(string name, Uri server, string script, string[] scriptArgs, int connections, TimeSpan duration)
    {
        var args = new List<string> { $"-t{Threads}", $"-c{connections}", $"-d{(int)duration.TotalSeconds}s", "--latency", "--timeout", "10s", "-s", script, server.ToString().TrimEnd('/'), "--" };
        args.AddRange(scriptArgs);
        var psi = new ProcessStartInfo("wrk", args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("wrk is not installed (apt-get install wrk)");
        var output = await p.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
        await p.WaitForExitAsync().ConfigureAwait(false);
        if (p.ExitCode != 0) throw new InvalidOperationException("wrk failed: " + await p.StandardError.ReadToEndAsync().ConfigureAwait(false) + output);
        var summary = RequestsRx().Match(output);
        if (!summary.Success) throw new InvalidOperationException("unexpected wrk output: " + output);
        var requests = long.Parse(summary.Groups[1].Value, CultureInfo.InvariantCulture);
        // wrk prints the run's length in the largest unit that fits: "in 35.10s", "in 1.43m".
        var seconds = double.Parse(summary.Groups[2].Value, CultureInfo.InvariantCulture) * summary.Groups[3].Value switch
        {
            "us" => 1e-6, "ms" => 1e-3, "m" => 60, "h" => 3600, _ => 1,
        };
        var rate = double.Parse(RateRx().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var errors = NonOkRx().Match(output) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        errors += SocketErrorsRx().Matches(output).Sum(x => long.Parse(x.Groups[1].Value, CultureInfo.InvariantCulture));
        return new Result(name, requests, connections, seconds, rate, Percentile(output, "50%"), Percentile(output, "99%"), errors);
    }

    private static double Percentile(string output, string label)
    {
        var m = Regex.Match(output, @"^\s*" + Regex.Escape(label) + @"\s+([\d.]+)(us|ms|s)\s*$", RegexOptions.Multiline);
        if (!m.Success) return double.NaN;
        var v = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return m.Groups[2].Value switch { "us" => v / 1000, "s" => v * 1000, _ => v };
    }

    [GeneratedRegex(@"(\d+) requests in ([\d.]+)(us|ms|s|m|h),")]
    private static partial Regex RequestsRx();

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RateRx();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex NonOkRx();

    [GeneratedRegex(@"(?:connect|read|write|timeout) (\d+)")]
    private static partial Regex SocketErrorsRx();
}
