using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using ScimSync.Client;
using ScimSync.Events;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Lanes;
using ScimSync.Sync.State;

namespace ScimSync.Sync.Passwords;

/// <summary>
/// Sets passwords changed at the source on every target with <c>passwords: sync</c> (docs/passwords.md). It asks the
/// source's passwords endpoint of the engine's subscription (long poll), opens each sealed password in memory, sends
/// it to each such target at once (PATCH replace password; the client turns it into a PUT where the target's dialect
/// has PATCH off), audits "password set" with the result and no value, and acknowledges it. The value is never
/// queued, stored or logged: a crash loses only what memory held, and the source hands the password out again
/// (until it expires, after which it is reported as not delivered, never retried).
/// </summary>
internal sealed class PasswordRelay(ScimClient source, Func<string?> subscription, RSA key, IReadOnlyList<TargetSlot> targets, Func<TargetSlot, bool> works,
    ISyncState state, TimeProvider time, ILogger log)
{
    public const string Verb = "password set";

    /// <summary>How long a target without the account is watched for it to appear (a create queued by the same change).</summary>
    public static readonly TimeSpan AccountGrace = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, Task> _working = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _finished = new();
    private readonly ConcurrentDictionary<string, Task> _lastOf = new(StringComparer.Ordinal);

    private IEnumerable<TargetSlot> Receivers => targets.Where(t => t.Config.Passwords == PasswordPolicy.Sync && works(t));

    public async Task FollowAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var ack = new List<string>();
            try
            {
                if (subscription() is not { } id)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), time, ct).ConfigureAwait(false);
                    continue;
                }
                while (_finished.TryDequeue(out var done)) ack.Add(done);
                var body = await source.PostJsonAsync($"/feeds/v1/subscriptions/{id}/passwords",
                    new JsonObject { ["ack"] = new JsonArray(ack.Select(a => (JsonNode)a).ToArray()) }, ct).ConfigureAwait(false);
                ack.Clear();
                foreach (var item in body["passwords"] as JsonArray ?? [])
                {
                    if (item is not JsonObject o || o["id"]?.GetValue<string>() is not { } deliveryId) continue;
                    // Handed out again while still being worked on (its claim ran out): the running delivery answers for it.
                    if (_working.ContainsKey(deliveryId)) continue;
                    // One person's passwords are set in the order they were set at the source (the source hands them
                    // out oldest first): the latest must win on every target. Different people's go side by side.
                    var resource = o["resourceId"]?.GetValue<string>() ?? "";
                    var before = _lastOf.TryGetValue(resource, out var previous) ? previous : Task.CompletedTask;
                    var delivery = before.ContinueWith(_ => DeliverAsync(deliveryId, o, ct), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
                    _working[deliveryId] = delivery;
                    _lastOf[resource] = delivery;
                    _ = delivery.ContinueWith(_ =>
                    {
                        _working.TryRemove(deliveryId, out Task? _);
                        _lastOf.TryRemove(new KeyValuePair<string, Task>(resource, delivery));
                    }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
                }
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                foreach (var a in ack) _finished.Enqueue(a);
                SyncLog.PasswordPollFailed(log, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), time, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task DeliverAsync(string deliveryId, JsonObject item, CancellationToken ct)
    {
        try
        {
            var resourceId = item["resourceId"]?.GetValue<string>() ?? "";
            var expires = DateTimeOffset.TryParse(item["expires"]?.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var e)
                ? e : time.GetUtcNow();
            if (item["expired"] is JsonValue ev && ev.TryGetValue<bool>(out var expired) && expired)
            {
                foreach (var t in Receivers)
                    Report(t, deliveryId, resourceId, null, "expired", null, 0,
                        $"the password set at the source expired at {expires:O} before the engine received it; it was not set (set it again at the source)");
                return;
            }
            PasswordEnvelope.Content content;
            try
            {
                content = PasswordEnvelope.Open(key, item["jwe"]?.GetValue<string>() ?? "");
                if (content.Id != deliveryId || content.ResourceId != resourceId) throw new CryptographicException("the sealed password is not the delivery it came as");
            }
            catch (CryptographicException x)
            {
                foreach (var t in Receivers) Report(t, deliveryId, resourceId, null, "failed", null, 0, "the sealed password could not be opened: " + x.Message);
                return;
            }
            await Task.WhenAll(Receivers.Select(t => SetAsync(t, deliveryId, content, ct))).ConfigureAwait(false);
        }
        finally
        {
            _finished.Enqueue(deliveryId);
        }
    }

    private async Task SetAsync(TargetSlot t, string deliveryId, PasswordEnvelope.Content content, CancellationToken ct)
    {
        var target = t.Config.Name;
        var started = time.GetUtcNow();
        var sw = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            if (time.GetUtcNow() >= content.Expires)
            {
                Report(t, deliveryId, content.ResourceId, state.TargetIdOf(target, content.ResourceId), "expired", null, sw.Elapsed.TotalMilliseconds,
                    $"the password expired at {content.Expires:O} before the target took it; it was not set (set it again at the source)");
                return;
            }
            var targetId = state.TargetIdOf(target, content.ResourceId);
            if (targetId is null)
            {
                // The account may be on its way (created by the same change, or queued): watch for it a little while.
                if (state.Queued(target, content.ResourceId) is null && time.GetUtcNow() - started > AccountGrace)
                {
                    Report(t, deliveryId, content.ResourceId, null, "not set", null, sw.Elapsed.TotalMilliseconds,
                        "the person has no account on this target (out of its scope, or not created)");
                    return;
                }
                await Task.Delay(delay, time, ct).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(500, delay.TotalMilliseconds * 2));
                continue;
            }
            try
            {
                await t.Client.PatchAsync("Users", targetId,
                    [new JsonObject { ["op"] = "replace", ["path"] = "password", ["value"] = content.Password }], null, ct).ConfigureAwait(false);
                Report(t, deliveryId, content.ResourceId, targetId, "ok", null, sw.Elapsed.TotalMilliseconds, null);
                return;
            }
            catch (ScimClientException x) when (x.Status is not (0 or 408 or 429 or >= 500))
            {
                // The target refused it (a password policy, a read-only attribute): retrying would not change its mind.
                Report(t, deliveryId, content.ResourceId, targetId, "failed", x.Status, sw.Elapsed.TotalMilliseconds,
                    Scrub($"{x.Status} {x.ScimType} {x.Detail}".Trim(), content.Password));
                return;
            }
            catch (Exception) when (!ct.IsCancellationRequested)
            {
                // No answer or a passing failure (the client has retried already): again shortly, until the expiry.
                await Task.Delay(TimeSpan.FromSeconds(1), time, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A target's error message may quote what it was sent: never into the log or the audit.</summary>
    private static string Scrub(string text, string password) =>
        password.Length > 0 && text.Contains(password, StringComparison.Ordinal) ? text.Replace(password, Mapping.SecretAttributes.Redacted, StringComparison.Ordinal) : text;

    private void Report(TargetSlot t, string deliveryId, string sourceId, string? targetId, string result, int? status, double ms, string? detail)
    {
        var target = t.Config.Name;
        var userName = targetId is null ? null : state.Account(target, targetId)?.UserName;
        var subject = targetId is null ? $"user [source {sourceId}]" : $"user {userName} [{targetId}]";
        if (result == "ok") SyncLog.OperationApplied(log, LogLevel.Information, target, Verb, subject, targetId, sourceId, "password:" + deliveryId, result, (long)ms);
        else SyncLog.PasswordNotSet(log, target, sourceId, $"{result}: {detail}", deliveryId);
        var entry = new AuditRecord(time.GetUtcNow(), "password:" + deliveryId, target, Verb, subject, targetId, sourceId, result, status, ms, detail) { UserName = userName };
        state.WriteAsync(w => w.Audit(entry)).ContinueWith(task => SyncLog.PasswordNotSet(log, target, sourceId, "the audit entry could not be written: " + task.Exception?.GetBaseException().Message, deliveryId),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }
}
