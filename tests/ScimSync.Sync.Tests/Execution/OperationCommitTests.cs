using System.Net;
using System.Reflection;
using System.Text.Json.Nodes;
using ScimSync.Client;
using ScimSync.Sync.Execution;
using ScimSync.Sync.Planning;
using ScimSync.Sync.State;
using ScimSync.Sync.State.Sqlite;

namespace ScimSync.Sync.Tests.Execution;

/// <summary>
/// An operation's shadow, link and provisioning-log entry are one unit of work (ISyncState's promise): when the state
/// cannot take the log entry, it has not taken the account either, so nothing shows an applied operation the log
/// does not know. The target's copy is found again by the next run's correlation (a 409 is adopted).
/// </summary>
public sealed class OperationCommitTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "scimsync-commit-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Creates every user it is sent, answering 201 with the user and an id.</summary>
    private sealed class CreatingTarget : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.AbsolutePath.EndsWith("/ServiceProviderConfig", StringComparison.Ordinal))
                return Json(HttpStatusCode.OK, """{"schemas":["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],"patch":{"supported":true},"bulk":{"supported":false},"filter":{"supported":true,"maxResults":100}}""");
            if (request.Method == HttpMethod.Post)
            {
                var user = JsonNode.Parse(await request.Content!.ReadAsStringAsync(cancellationToken))!.AsObject();
                user["id"] = "t-" + user["userName"]!.GetValue<string>();
                return Json(HttpStatusCode.Created, user.ToJsonString());
            }
            return new HttpResponseMessage(HttpStatusCode.NotFound);
        }

        private static HttpResponseMessage Json(HttpStatusCode status, string body) =>
            new(status) { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/scim+json") };
    }

    /// <summary>The state, except that a unit of work recording a successful operation fails at its log entry.</summary>
    public class LogRefusingState : DispatchProxy
    {
        internal ISyncState Inner { get; set; } = null!;

        protected override object? Invoke(MethodInfo? method, object?[]? args)
        {
            if (method!.Name == nameof(ISyncState.WriteAsync))
            {
                var work = (Action<IStateWriter>)args![0]!;
                return Inner.WriteAsync(w => work(LogRefusingWriter.Around(w)));
            }
            try
            {
                return method.Invoke(Inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                throw e.InnerException;
            }
        }
    }

    public class LogRefusingWriter : DispatchProxy
    {
        private IStateWriter _inner = null!;

        internal static IStateWriter Around(IStateWriter inner)
        {
            var proxy = Create<IStateWriter, LogRefusingWriter>();
            ((LogRefusingWriter)(object)proxy)._inner = inner;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? method, object?[]? args)
        {
            if (method!.Name == nameof(IStateWriter.Audit) && args![0] is AuditRecord { Result: "ok" })
                throw new SyncStateUnavailableException("the disk is full");
            try
            {
                return method.Invoke(_inner, args);
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                throw e.InnerException;
            }
        }
    }

    [Fact]
    public async Task A_create_whose_log_entry_cannot_be_written_leaves_no_account_or_link_behind()
    {
        using var inner = SqliteSyncState.Open(_dir);
        var state = DispatchProxy.Create<ISyncState, LogRefusingState>();
        ((LogRefusingState)(object)state).Inner = inner;
        using var client = new ScimClient(new ScimClientOptions { BaseUri = new Uri("http://127.0.0.1:9/scim/v2/"), MaxRetries = 0 }, new CreatingTarget());
        var executor = new TargetExecutor(client, state, TimeProvider.System, 2);
        var document = new JsonObject { ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:User"), ["userName"] = "grace", ["active"] = true };
        var plan = new SyncPlan("app", [new CreateAccount("app", "s1", "grace", document)], [], new Dictionary<Correlation.Situation, int>(), 0, null);

        var report = await executor.ExecuteAsync(plan, "test", null, CancellationToken.None);

        // The target has grace, but the state took neither her shadow nor her link without the log entry.
        Assert.Equal(1, report.Failed);
        Assert.Empty(inner.LoadState("app").Accounts);
        Assert.Null(inner.TargetIdOf("app", "s1"));
        Assert.Contains("s1", report.FailedSources);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
