using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using ScimSync.Secrets;
using ScimSync.Server;
using ScimSync.Server.Hosting;

namespace ScimSync.Client.Tests.Infrastructure;

/// <summary>
/// Our server, in-process on a loopback port with a SQLite file in a fresh directory, configured as the
/// kind of target a test needs (page cap, rate limit, features switched off).
/// </summary>
public sealed class TargetServer : IAsyncDisposable
{
    public const string AdminToken = "client-tests-admin";

    private readonly WebApplication _app;

    private TargetServer(WebApplication app, string dataDirectory, Uri scimRoot)
    {
        _app = app;
        DataDirectory = dataDirectory;
        ScimRoot = scimRoot;
    }

    public string DataDirectory { get; }

    /// <summary>e.g. http://127.0.0.1:40123/scim/v2/</summary>
    public Uri ScimRoot { get; }

    /// <param name="seedDirectory">A stopped server's data directory to start from (copied, never shared).</param>
    public static async Task<TargetServer> StartAsync(Func<ScimServerOptions, ScimServerOptions>? configure = null, string? seedDirectory = null)
    {
        var dir = Path.Combine(Path.GetTempPath(), "scimsync-client-tests", Guid.NewGuid().ToString("N"));
        PrivateFiles.EnsureDirectory(dir, "data directory");
        if (seedDirectory is not null)
        {
            foreach (var file in Directory.EnumerateFiles(seedDirectory))
                File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
            // The seed's secrets are sealed with its key file, which lives beside it; the copy needs it too.
            if (File.Exists(KeyRing.DefaultPathFor(seedDirectory))) File.Copy(KeyRing.DefaultPathFor(seedDirectory), KeyRing.DefaultPathFor(dir));
        }
        var options = new ScimServerOptions { DataDirectory = dir, AdminToken = AdminToken };
        options = configure?.Invoke(options) ?? options;
        var app = ScimServerHost.Build(options, ["--urls", "http://127.0.0.1:0"]);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TargetServer(app, dir, new Uri(address.TrimEnd('/') + "/scim/v2/"));
    }

    /// <summary>A client with the admin token; <paramref name="log"/> sees every request it sends.</summary>
    public ScimClient Client(Func<ScimClientOptions, ScimClientOptions>? configure = null, RequestLog? log = null, TimeProvider? time = null)
    {
        var options = new ScimClientOptions { BaseUri = ScimRoot, Auth = new ScimAuth.Bearer(AdminToken) };
        options = configure?.Invoke(options) ?? options;
        return new ScimClient(options, log?.Handler(), time);
    }

    /// <summary>Stops the server but keeps its files (for a seed).</summary>
    public async Task StopAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { }
        File.Delete(KeyRing.DefaultPathFor(DataDirectory));
    }
}
