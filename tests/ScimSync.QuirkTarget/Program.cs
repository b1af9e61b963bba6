using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ScimSync.QuirkTarget;

// dotnet ScimSync.QuirkTarget.dll --port P --token T [--page-cap 50]
//
// stdout: "listening <port>" once connections are accepted. stdin, one command a line: "down" stops the
// web host (the listening socket closes, open connections are aborted; prints "down"), "up" starts a new
// host on the same port with the same store (prints "up"). The process exits when stdin closes.

QuirkOptions options;
try
{
    options = ParseArgs(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine("usage: ScimSync.QuirkTarget --port P --token T [--page-cap 50]");
    return 2;
}

var store = new ResourceStore(TimeProvider.System);
var port = options.Port;
var app = await StartAsync(port);
port = ScimEndpoints.BoundPort(app);
store.BaseUrl = $"http://127.0.0.1:{port}/scim/v2";
Console.WriteLine($"listening {port}");

while (await Console.In.ReadLineAsync() is { } line)
{
    switch (line.Trim())
    {
        case "down":
            if (app is not null)
            {
                await app.StopAsync();
                await app.DisposeAsync();
                app = null;
            }
            Console.WriteLine("down");
            break;
        case "up":
            app ??= await StartAsync(port);
            Console.WriteLine("up");
            break;
        case "":
            break;
        case var other:
            Console.WriteLine($"unknown command {other}");
            break;
    }
}

if (app is not null)
{
    await app.StopAsync();
    await app.DisposeAsync();
}
return 0;

async Task<WebApplication> StartAsync(int listenPort)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, listenPort));
    // An outage, not a graceful drain: requests in flight are aborted at once when the host stops.
    builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.Zero);
    var web = builder.Build();
    ScimEndpoints.Map(web, store, options);
    await web.StartAsync();
    return web;
}

static QuirkOptions ParseArgs(string[] args)
{
    int? port = null;
    string? token = null;
    var pageCap = 50;
    for (var i = 0; i < args.Length; i++)
    {
        string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
        switch (args[i])
        {
            case "--port": port = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--token": token = Next(); break;
            case "--page-cap": pageCap = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            default: throw new ArgumentException($"unknown argument {args[i]}");
        }
    }
    if (port is not (>= 0 and <= 65535)) throw new ArgumentException("--port 0..65535 is required");
    if (string.IsNullOrEmpty(token)) throw new ArgumentException("--token is required");
    if (pageCap < 1) throw new ArgumentException("--page-cap must be at least 1");
    return new QuirkOptions(port.Value, token, pageCap);
}
