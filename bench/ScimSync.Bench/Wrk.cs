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
