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
    public sealed record Result(string Name, long Requests, int Connections, double Seconds, double Rate, double P50, double P99, long Errors);

    public static async Task<Result> RunAsync(string name, Uri server, string script, string[] scriptArgs, int connections, TimeSpan duration)
    {
        var args = new List<string> { "-t2", $"-c{connections}", $"-d{(int)duration.TotalSeconds}s", "--latency", "--timeout", "10s", "-s", script, server.ToString().TrimEnd('/'), "--" };
        args.AddRange(scriptArgs);
        var psi = new ProcessStartInfo("wrk", args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("wrk is not installed (apt-get install wrk)");
        var output = await p.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
        await p.WaitForExitAsync().ConfigureAwait(false);
        if (p.ExitCode != 0) throw new InvalidOperationException("wrk failed: " + await p.StandardError.ReadToEndAsync().ConfigureAwait(false) + output);
        var requests = long.Parse(RequestsRx().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var seconds = double.Parse(RequestsRx().Match(output).Groups[2].Value, CultureInfo.InvariantCulture);
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

    [GeneratedRegex(@"(\d+) requests in ([\d.]+)s")]
    private static partial Regex RequestsRx();

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex RateRx();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex NonOkRx();

    [GeneratedRegex(@"(?:connect|read|write|timeout) (\d+)")]
    private static partial Regex SocketErrorsRx();
}
