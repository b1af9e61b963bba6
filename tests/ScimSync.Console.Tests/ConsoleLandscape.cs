using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using ScimSync.Sync.Tests.EndToEnd;

namespace ScimSync.OperatorConsole.Tests;

using Server = ScimSync.Sync.Tests.EndToEnd.Server;
using Cli = ScimSync.Sync.Tests.EndToEnd.Cli;

/// <summary>
/// Real processes on loopback: `scimsync serve` as the HR source and two applications (helpdesk, with a strict
/// mass-change guard, and support), and `scimsync sync watch --listen` serving the console; chromium drives it.
/// Before the engine watches, a full run provisions 30 employees and a second one, after 8 of them left at the source,
/// leaves the helpdesk's 8 deactivations held by the guard (the support desk, with the default guard, applies them).
/// The support desk reports out-of-band changes rather than repairing them (<c>drift: report</c>): a person decides.
/// The engine reaches the source through a <see cref="FaultProxy"/> that, while <see cref="Spoiled"/> names a person,
/// spoils every SET about them so that the engine refuses it and the source dead-letters it.
/// </summary>
public sealed class ConsoleLandscape : IAsyncLifetime
{
    public const string ViewerToken = "viewer-token-0123456789abcdef";
    public const string OperatorToken = "operator-token-0123456789abcdef";
    public const string Enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(3);
    private readonly StringBuilder _engineLog = new();
    private Process? _engine;
    private FaultProxy? _sourceProxy;
    private string? _spoiled;
    private IPlaywright? _playwright;

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "scimsync-console-" + Guid.NewGuid().ToString("N")[..10]);
    public Server Source { get; private set; } = null!;
    public Server Helpdesk { get; private set; } = null!;
    public Server Support { get; private set; } = null!;
    public Uri ConsoleUrl { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public Dictionary<string, string> Ids { get; } = [];
    public string ConfigPath { get; private set; } = null!;

    /// <summary>The source id of the person whose SETs the engine receives spoiled (and refuses); null: none.</summary>
    public string? Spoiled
    {
        get => Volatile.Read(ref _spoiled);
        set => Volatile.Write(ref _spoiled, value);
    }
    public IReadOnlyList<string> Leavers { get; } = [.. Enumerable.Range(0, 8).Select(i => $"emp{i:D2}@example.com")];

    public string EngineLog
    {
        get { lock (_engineLog) return _engineLog.ToString(); }
    }

    public async Task InitializeAsync()
    {
        // Chromium first: without it the browser tests fail here, never skip (in CI and out of it).
        if (!File.Exists(BrowserPath))
            throw new InvalidOperationException($"no chromium at {BrowserPath}: install Debian's chromium (apt-get install chromium; .ci/run does) or point SCIMSYNC_CHROMIUM at one");
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = BrowserPath,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
        Directory.CreateDirectory(Root);
        var servers = await Task.WhenAll(Server.StartAsync("hr", Root), Server.StartAsync("helpdesk", Root), Server.StartAsync("support", Root));
        (Source, Helpdesk, Support) = (servers[0], servers[1], servers[2]);
        _sourceProxy = await FaultProxy.StartAsync(Source.ScimUrl, failEvery: 0, rewritePost: PoisonSets.SpoilSetsAbout(() => Spoiled));
        for (var i = 0; i < 30; i++)
        {
            var name = $"emp{i:D2}@example.com";
            Ids[name] = (await Source.CreateUserAsync(name, kind: "employee", department: i < 8 ? "Support" : "Sales"))["id"]!.GetValue<string>();
        }
        // Every `scimsync sync` process reads the configuration, and with it the console's tokens from the environment.
        Environment.SetEnvironmentVariable("SCIMSYNC_CONSOLE_VIEWER", ViewerToken);
        Environment.SetEnvironmentVariable("SCIMSYNC_CONSOLE_OPERATOR", OperatorToken);
        var config = ConfigPath = WriteConfig();
        var (first, firstOut) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
        if (first != 0) throw new InvalidOperationException($"the initial run exited {first}: {firstOut}");
        foreach (var name in Leavers) await Source.PatchAsync("Users", Ids[name], Server.Replace("active", false));
        var (held, heldOut) = await Cli.RunAsync(RunTimeout, "sync", "run", "--config", config);
        if (held != 4) throw new InvalidOperationException($"the second run should hold the helpdesk's deactivations (exit 4), exited {held}: {heldOut}");

        var port = Cli.FreePort();
        _engine = Cli.Start(["sync", "watch", "--config", config, "--listen", $"127.0.0.1:{port}"], null, _engineLog);
        ConsoleUrl = new Uri($"http://127.0.0.1:{port}/");
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await probe.GetAsync(new Uri(ConsoleUrl, "healthz"))).StatusCode == HttpStatusCode.OK) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            if (_engine.HasExited) throw new InvalidOperationException($"sync watch exited with {_engine.ExitCode}: {EngineLog}");
            await Task.Delay(200);
        }
        throw new TimeoutException("sync watch did not listen within 90 s: " + EngineLog);
    }

    /// <summary>Debian's chromium; another path with SCIMSYNC_CHROMIUM.</summary>
    public static string BrowserPath => Environment.GetEnvironmentVariable("SCIMSYNC_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    private string WriteConfig()
    {
        var path = Path.Combine(Root, "sync.yaml");
        File.WriteAllText(path, $"""
            state: ./state
            source:
              type: scim
              url: {_sourceProxy!.ScimUrl}
              auth: {"{"} type: bearer, token: {Source.Token} {"}"}
              pollInterval: 3s
            health: {"{"} unreachableFor: 1s {"}"}
            targets:
              - name: helpdesk
                url: {Helpdesk.ScimUrl}
                auth: {"{"} type: bearer, token: {Helpdesk.Token} {"}"}
                scope: {"{"} kinds: [employee] {"}"}
                guard: {"{"} maxDeactivations: 20%, floor: 3 {"}"}
              - name: support
                url: {Support.ScimUrl}
                auth: {"{"} type: bearer, token: {Support.Token} {"}"}
                scope: {"{"} kinds: [employee] {"}"}
                policies: {"{"} drift: report {"}"}
            console:
              people:
                - {"{"} name: vera, role: viewer, token: "${"{"}SCIMSYNC_CONSOLE_VIEWER{"}"}" {"}"}
                - {"{"} name: olivia, role: operator, token: "${"{"}SCIMSYNC_CONSOLE_OPERATOR{"}"}" {"}"}
            """);
        return path;
    }

    /// <summary>A fresh browser context (its own cookies) signed in with <paramref name="token"/>, on the overview.</summary>
    public async Task<IPage> SignInAsync(string token)
    {
        var context = await Browser.NewContextAsync(new() { BaseURL = ConsoleUrl.ToString(), ViewportSize = new() { Width = 1400, Height = 900 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/console");
        await page.FillAsync("#token", token);
        await page.ClickAsync("#signin");
        await page.WaitForURLAsync(u => new Uri(u).AbsolutePath == "/console");
        return page;
    }

    /// <summary>With SCIMSYNC_CONSOLE_SCREENSHOTS=DIR: a PNG of the page there (docs/console/ keeps the ones in the README).</summary>
    public static async Task ScreenshotAsync(IPage page, string name)
    {
        if (Environment.GetEnvironmentVariable("SCIMSYNC_CONSOLE_SCREENSHOTS") is not { Length: > 0 } dir) return;
        Directory.CreateDirectory(dir);
        await page.ScreenshotAsync(new() { Path = Path.Combine(dir, name + ".png"), FullPage = true });
    }

    /// <summary>A form posted by hand (what a forged or scripted decision would send).</summary>
    public static IFormData Form(IAPIRequestContext request, params (string Name, string Value)[] fields)
    {
        var form = request.CreateFormData();
        foreach (var (name, value) in fields) form.Set(name, value);
        return form;
    }

    public async Task<JsonObject?> FindAsync(Server server, string userName)
    {
        await foreach (var page in server.Client.ListAsync("Users", new ScimSync.Client.ListOptions { Filter = $"userName eq \"{userName}\"" }, CancellationToken.None))
            return page.Resources.FirstOrDefault();
        return null;
    }

    public async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition()) return;
            await Task.Delay(250);
        }
        Assert.Fail($"{what}: not so within 60 s; engine output:\n{EngineLog}");
    }

    /// <summary>Stops the watching engine (its state stays), so that another `scimsync sync` process may own the state.</summary>
    public async Task StopEngineAsync()
    {
        if (_engine is { HasExited: false })
        {
            _engine.Kill(true);
            await _engine.WaitForExitAsync();
        }
    }

    public async Task DisposeAsync()
    {
        // For a failure's post-mortem: the engine's own log (the console's errors are there).
        if (Environment.GetEnvironmentVariable("SCIMSYNC_CONSOLE_ENGINE_LOG") is { Length: > 0 } log) await File.WriteAllTextAsync(log, EngineLog);
        if (_engine is { HasExited: false })
        {
            _engine.Kill(true);
            await _engine.WaitForExitAsync();
        }
        _engine?.Dispose();
        if (Browser is not null) await Browser.DisposeAsync();
        _playwright?.Dispose();
        if (_sourceProxy is not null) await _sourceProxy.DisposeAsync();
        foreach (var s in new[] { Source, Helpdesk, Support }.Where(s => s is not null)) await s.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
