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
        await foreach (var page in client.ListAsync("Users", new ListOptions { ExcludedAttributes = "groups" }, ct).ConfigureAwait(false))
        {
            var seen = time.GetUtcNow();
            shadows.Batch(w =>
            {
                foreach (var doc in page.Resources)
                    if (doc["id"] is JsonValue id && id.TryGetValue<string>(out var tid))
                        w.PutAccount(target.Name, new TargetAccount(tid, doc), seen > started ? seen : started.AddTicks(1));
            });
            count += page.Resources.Count;
            progress?.Report(count);
        }
        shadows.Batch(w => w.ForgetUnseen(target.Name, started.AddTicks(1)));

        if (target.Groups.All || target.Groups.Names.Count > 0)
        {
            var keep = new List<string>();
            await foreach (var page in client.ListAsync("Groups", new ListOptions { ExcludedAttributes = "members" }, ct).ConfigureAwait(false))
            {
                foreach (var g in page.Resources)
                {
                    var id = g["id"]?.GetValue<string>();
                    var name = g["displayName"]?.GetValue<string>() ?? "";
                    if (id is null) continue;
                    keep.Add(id);
                    var externalId = g["externalId"] is JsonValue e && e.TryGetValue<string>(out var ext) ? ext : null;
                    IReadOnlyList<string> members = [];
                    // Only groups this target receives are read with their members (once, in a full read).
                    if (target.Groups.Includes(name) && await client.GetAsync("Groups", id, "members", ct).ConfigureAwait(false) is { } full)
                        members = (full["members"] as JsonArray ?? []).Select(m => m?["value"]?.GetValue<string>()).OfType<string>().ToArray();
                    shadows.Batch(w =>
                    {
                        w.PutGroup(target.Name, id, name, externalId);
                        w.ReplaceGroupMembers(target.Name, id, members);
                    });
                }
            }
            shadows.Batch(w => w.ForgetGroupsExcept(target.Name, keep));
        }
        return count;
    }
}
