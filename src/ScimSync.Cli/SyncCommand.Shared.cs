using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using ScimSync.Sync.Leases;
using ScimSync.Sync.Runs;

namespace ScimSync.Cli;

/// <summary>
/// The verbs that change targets outside a watch (<c>plan</c>, <c>run</c>, <c>reconcile</c>, <c>confirm</c>) on a
/// state that watching engines share (<c>--state postgres://…</c>): the command holds the lease of each target it
/// works on for the time of its job, the same lease the engines hold (<see cref="TargetClaims"/>), so that it and an
/// engine never act on one target at once. A target no live engine holds is taken at once. One a live engine holds is
/// skipped and said so, unless <c>--wait SECONDS</c> lets the command ask the engine to hand it over and wait that long;
/// <c>confirm</c> names its one target and waits 60 s unless told otherwise. When the command ends, the engines take
/// the targets back, each with a full pass (docs/postgres.md).
/// </summary>
internal static partial class SyncCommand
{
    /// <summary>How long <c>confirm</c> waits for its target's owner by default; the other verbs skip (0).</summary>
    private static readonly TimeSpan ConfirmWait = TimeSpan.FromSeconds(60);

    /// <summary>`--wait SECONDS`: with --state postgres://…, how long to wait for a target a watching engine holds.</summary>
    private static Option<int?> WaitOption(string byDefault) => new("--wait")
    {
        Description = $"With --state postgres://…: how long to wait (seconds) for a target a watching engine holds, which is asked to hand it over and takes it back afterwards; {byDefault}",
        HelpName = "SECONDS",
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n is >= 0 and <= 86_400) return n;
            r.AddError($"--wait needs a number of seconds from 0 to 86400, not \"{text}\"");
            return null;
        },
    };

    /// <summary>Adds --state and --wait to a verb that changes targets.</summary>
    private static Option<int?> SharedStateOptions(Command verb, string waitByDefault)
    {
        var wait = WaitOption(waitByDefault);
        verb.Options.Add(EngineState.StateOption);
        verb.Options.Add(wait);
        return wait;
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the targets this command may act on: every target (or <paramref name="only"/>)
    /// with the state of one engine; on a shared state, those whose leases it took, the others skipped and said so.
    /// <paramref name="work"/> gets the token to act under: cancelled at once when the leases can no longer be relied on.
    /// </summary>
    private static async Task<int> OnHeldTargetsAsync(SyncEngine engine, StopSignals stop, string verb, IReadOnlyList<string>? only, TimeSpan wait, bool json,
        Func<CancellationToken, Task<int>> work)
    {
        if (EngineState.Claims(engine.Shadows, verb) is not { } store) return await work(stop.Abort).ConfigureAwait(false);
        await using (store.ConfigureAwait(false))
        {
            var targets = only ?? engine.TargetNames;
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(stop.Abort, engine.StopRequested);
            await using var claims = await TargetClaims.AcquireAsync(store, targets, wait, TimeProvider.System, stop.Loggers.CreateLogger<TargetClaims>(), waiting.Token).ConfigureAwait(false);
            Say(claims, wait, json);
            if (claims.Held.Count == 0)
                throw CliException.Failed(wait > TimeSpan.Zero
                    ? $"no target was handed over within {wait.TotalSeconds:0} s: {Owners(claims)}; nothing was done (a longer --wait, or try again)"
                    : $"every target is held by a watching engine or another command ({Owners(claims)}); nothing was done (--wait SECONDS asks the engines to hand the targets over)");
            engine.Claims = claims;
            using var acting = CancellationTokenSource.CreateLinkedTokenSource(stop.Abort, claims.Lost);
            int code;
            try
            {
                code = await work(acting.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (claims.Lost.IsCancellationRequested && !stop.Abort.IsCancellationRequested)
            {
                throw LeaseLost(claims);
            }
            if (claims.Lost.IsCancellationRequested) throw LeaseLost(claims);
            return code;
        }
    }

    private static CliException LeaseLost(TargetClaims claims) => CliException.Failed(
        $"{claims.LostReason}: stopped at once; operations in flight may have been applied without being recorded, and the engine that takes the target next finds them by its full pass");

    private static string Owners(TargetClaims claims) => string.Join(", ", claims.Skipped.Select(s => $"{s.Key} by {s.Value}"));

    /// <summary>What the command holds and what it skipped: on standard output for a person, on standard error beside --json.</summary>
    private static void Say(TargetClaims claims, TimeSpan wait, bool json)
    {
        void Line(string text, string style)
        {
            if (json) Console.Error.WriteLine("scimsync: " + text);
            else Output.Line(text, style);
        }
        foreach (var (target, owner) in claims.HandedOver)
            Line($"{target}: {owner} handed the target over to this command ({claims.Holder}); it takes it back when the command ends", "grey");
        foreach (var (target, owner) in claims.Skipped)
            Line(wait > TimeSpan.Zero
                ? $"{target}: skipped: {owner} did not hand it over within {wait.TotalSeconds:0} s"
                : $"{target}: skipped: {owner} holds its lease and keeps it in sync (a full pass whenever it takes a target); --wait SECONDS asks it to hand the target over", "yellow");
    }

    /// <summary>The --wait given, else the verb's default.</summary>
    private static TimeSpan Wait(ParseResult parse, Option<int?> option, TimeSpan byDefault)
    {
        if (parse.GetValue(option) is not { } seconds) return byDefault;
        // One engine's state directory is locked by the command: there is no engine to wait for.
        if (parse.GetValue(EngineState.StateOption) is null) throw CliException.Usage("--wait goes with --state postgres://… (a state that watching engines share)");
        return TimeSpan.FromSeconds(seconds);
    }
}
