using ScimSync.Server;
using ScimSync.Server.Hosting;

// scimsync-servehost --urls URL --data DIR --store postgres://... [--key-file FILE] [--instance NAME]
//                    [--visibility-timeout SECONDS] [--push-allow LIST]
// SCIMSYNC_ADMIN_TOKEN as for `scimsync serve`. A stand-in for `scimsync serve --store`, see the project file.
var opts = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i + 1 < args.Length; i += 2) opts[args[i].TrimStart('-')] = args[i + 1];
string? Get(string name) => opts.TryGetValue(name, out var v) ? v : null;
var options = new ScimServerOptions
{
    DataDirectory = Path.GetFullPath(Get("data") ?? "scimsync-data"),
    KeyFile = Get("key-file"),
    Store = Get("store"),
    InstanceName = Get("instance"),
    AdminToken = Environment.GetEnvironmentVariable("SCIMSYNC_ADMIN_TOKEN"),
    EventVisibilityTimeout = TimeSpan.FromSeconds(double.Parse(Get("visibility-timeout") ?? "30", System.Globalization.CultureInfo.InvariantCulture)),
    PushAllowList = (Get("push-allow") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries),
};
var urls = Get("urls") ?? "http://127.0.0.1:8080";
var app = ScimServerHost.Build(options, ["--urls", urls]);
Console.WriteLine($"servehost: serving {urls} on {(options.Store is null ? options.DatabasePath : "postgres")} as {options.InstanceName}");
await app.RunAsync();
