using System.Text.Json.Nodes;
using ScimSync.Client;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Shadows;

namespace ScimSync.Sync.Execution;

/// <summary>Creates SCIM clients from endpoint settings.</summary>
public static class Connections
{
    public static ScimClient Open(EndpointConfig endpoint, TimeProvider time, HttpMessageHandler? handler = null) => new(new ScimClientOptions
    {
        BaseUri = endpoint.Url,
        Auth = endpoint.Auth switch
        {
            null => null,
            { Type: AuthType.Bearer } a => new ScimAuth.Bearer(a.Token!),
            { Type: AuthType.Basic } a => new ScimAuth.Basic(a.User!, a.Password!),
            var a => new ScimAuth.OAuth2ClientCredentials(a.TokenUrl!, a.ClientId!, a.ClientSecret!, a.Scope),
        },
        MaxPageSize = endpoint.Limits.MaxPageSize,
        MaxRequestsPerSecond = endpoint.Limits.MaxRequestsPerSecond,
        Concurrency = endpoint.Limits.Concurrency,
        UsePutForUpdates = endpoint.Dialect.UsePut,
        DisableBulk = endpoint.Dialect.DisableBulk,
        DisableCursor = endpoint.Dialect.DisableCursor,
    }, handler, time);
}

/// <summary>
/// Reads a whole target into its shadow: every account, and the groups this target receives with their
/// members. Used by full runs and reconciliation; incremental work plans from the shadow alone.
/// </summary>
public sealed class TargetReader(ScimClient client, ShadowStore shadows, TimeProvider time)
{
    public async Task<int> RefreshAsync(TargetConfig target, IProgress<long>? progress, CancellationToken ct)
    {
        var started = time.GetUtcNow();
        var count = 0;
        // The next pages are fetched (and parsed) while the current one is written to the shadow.
        var pages = System.Threading.Channels.Channel.CreateBounded<IReadOnlyList<JsonObject>>(2);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var reading = Task.Run(async () =>
        {
            try
            {
                await foreach (var page in client.ListAsync("Users", new ListOptions { ExcludedAttributes = "groups" }, stop.Token).ConfigureAwait(false))
                    await pages.Writer.WriteAsync(page.Resources, stop.Token).ConfigureAwait(false);
                pages.Writer.Complete();
            }
            catch (Exception e)
            {
                pages.Writer.Complete(e);
            }
        }, CancellationToken.None);
        try
        {
            await WriteAccountsAsync().ConfigureAwait(false);
        }
        finally
        {
            // A failed write stops the reader too (it would otherwise wait on a full channel forever).
            await stop.CancelAsync().ConfigureAwait(false);
            await reading.ConfigureAwait(false);
        }
        shadows.Batch(w => w.ForgetUnseen(target.Name, started.AddTicks(1)));

        if (target.Groups.All || target.Groups.Names.Count > 0)
        {
            var groups = new List<(string Id, string Name, string? ExternalId)>();
            await foreach (var page in client.ListAsync("Groups", new ListOptions { ExcludedAttributes = "members" }, ct).ConfigureAwait(false))
                foreach (var g in page.Resources)
                    if (g["id"]?.GetValue<string>() is { } id)
                        groups.Add((id, g["displayName"]?.GetValue<string>() ?? "", g["externalId"] is JsonValue e && e.TryGetValue<string>(out var ext) ? ext : null));
            // Only groups this target receives are read with their members (once, in a full read), several at a time.
            await Parallel.ForEachAsync(groups, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (g, token) =>
            {
                IReadOnlyList<string> members = [];
                if (target.Groups.Includes(g.Name) && await client.GetAsync("Groups", g.Id, "members", token).ConfigureAwait(false) is { } full)
                    members = (full["members"] as JsonArray ?? []).Select(m => m?["value"]?.GetValue<string>()).OfType<string>().ToArray();
                await shadows.WriteAsync(w =>
                {
                    w.PutGroup(target.Name, g.Id, g.Name, g.ExternalId);
                    w.ReplaceGroupMembers(target.Name, g.Id, members);
                }).ConfigureAwait(false);
            }).ConfigureAwait(false);
            shadows.Batch(w => w.ForgetGroupsExcept(target.Name, groups.Select(g => g.Id).ToArray()));
        }
        return count;

        async Task WriteAccountsAsync()
        {
            await foreach (var resources in pages.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                var seen = time.GetUtcNow();
                var at = seen > started ? seen : started.AddTicks(1);
                var accounts = new List<TargetAccount>(resources.Count);
                foreach (var doc in resources)
                    if (doc["id"] is JsonValue id && id.TryGetValue<string>(out var tid))
                        accounts.Add(new TargetAccount(tid, doc));
                shadows.Batch(w =>
                {
                    foreach (var account in accounts) w.PutAccount(target.Name, account, at);
                });
                count += resources.Count;
                progress?.Report(count);
            }
        }
    }
}
