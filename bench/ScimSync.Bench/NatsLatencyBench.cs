using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using ScimSync.Events;

namespace ScimSync.Bench;

/// <summary>
/// Write → JetStream consumer latency (docs/nats.md): a private nats-server with JetStream, `serve --nats`, writes at
/// a fixed rate (30 % creates, 70 % PATCHes, as FeedLatencyBench), and a durable JetStream pull consumer noting when each
/// SET arrives; a write's latency is from its HTTP response to the arrival of the SET for the same resource and
/// version.
/// </summary>
internal static class NatsLatencyBench
{
    private sealed record Write(string Id, string Version, long RespondedAt);

    public static async Task<string> RunAsync(string cli, string work, int rate, int seconds, int users)
    {
        const string token = "bench-token";
        var natsServer = new[] { "/usr/sbin/nats-server", "/usr/local/bin/nats-server", "/usr/bin/nats-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("nats-server is not installed (apt-get install -y nats-server)");
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0)) { l.Start(); port = ((IPEndPoint)l.LocalEndpoint).Port; }
        var store = Path.Combine(work, "nats");
        using var nats = Process.Start(new ProcessStartInfo(natsServer, ["-js", "-a", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-sd", store])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        try
        {
            var url = $"nats://127.0.0.1:{port}";
            await using var connection = new NatsConnection(NatsOpts.Default with { Url = url });
            await connection.ConnectAsync();
            await using var server = await ServerProcess.StartAsync(cli, Path.Combine(work, "nats-latency-data"), token, ["--nats", url]);
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromSeconds(30) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

            var existing = new string[users];
            await Parallel.ForEachAsync(Enumerable.Range(0, users), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
                existing[i] = (await Api.SendAsync(http, HttpMethod.Post, "scim/v2/Users", Api.User("seed-" + i.ToString(CultureInfo.InvariantCulture))))["id"]!.GetValue<string>());

            // The seeds are in the stream before measuring starts: the consumer then sees only the measured writes.
            var js = new NatsJSContext(connection);
            var seeded = DateTime.UtcNow;
            while (true)
            {
                try
                {
                    var s = await js.GetStreamAsync(EventStream.DefaultStream);
                    if (s.Info.State.Messages >= users) break;
                }
                catch (NatsJSApiException) { }
                if (DateTime.UtcNow - seeded > TimeSpan.FromMinutes(2)) throw new TimeoutException("the relay did not publish the seed users within 2 minutes");
                await Task.Delay(100);
            }
            var arrivals = new ConcurrentDictionary<(string, string), long>();
            // A durable pull consumer acknowledging each message, as docs/nats.md tells a consumer to be.
            var consumer = await js.CreateOrUpdateConsumerAsync(EventStream.DefaultStream, new ConsumerConfig("bench-latency")
            {
                DeliverPolicy = ConsumerConfigDeliverPolicy.New, AckPolicy = ConsumerConfigAckPolicy.Explicit,
            });
            var received = 0L;
            using var stop = new CancellationTokenSource();
            var consuming = Task.Run(async () =>
            {
                try
                {
                    await foreach (var m in consumer.ConsumeAsync(NatsRawSerializer<byte[]>.Default, cancellationToken: stop.Token))
                    {
                        var at = Stopwatch.GetTimestamp();
                        var claims = JsonNode.Parse(Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(Encoding.ASCII.GetString(m.Data!).Split('.')[1])))!;
                        var id = claims["sub_id"]!["id"]!.GetValue<string>();
                        var version = claims["events"]!.AsObject().Select(e => e.Value?["version"]?.GetValue<string>()).FirstOrDefault(v => v is not null);
                        if (version is not null) arrivals.TryAdd((id, version), at);
                        Interlocked.Increment(ref received);
                        await m.AckAsync(cancellationToken: stop.Token);
                    }
                }
                catch (OperationCanceledException) { }
            });

            var writes = new ConcurrentBag<Write>();
            var writeLatency = new ConcurrentBag<double>();
            var errors = 0;
            var random = new Random(42);
            var total = rate * seconds;
            var outstanding = new SemaphoreSlim(256);
            var tasks = new List<Task>(total);
            var created = 0;
            var load = new LoadSample(server.Pid);
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < total; i++)
            {
                var due = start + (long)(i * (double)Stopwatch.Frequency / rate);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait);
                await outstanding.WaitAsync();
                HttpRequestMessage request = random.NextDouble() < 0.3
                    ? new HttpRequestMessage(HttpMethod.Post, "scim/v2/Users") { Content = Json(Api.User("new-" + Interlocked.Increment(ref created).ToString(CultureInfo.InvariantCulture), "t0")) }
                    : new HttpRequestMessage(HttpMethod.Patch, $"scim/v2/Users/{existing[random.Next(users)]}") { Content = Json(Api.Patch("title", "t" + i.ToString(CultureInfo.InvariantCulture))) };
                tasks.Add(Task.Run(async () =>
                {
                    try
                    {
                        var sent = Stopwatch.GetTimestamp();
                        using var resp = await http.SendAsync(request);
                        var at = Stopwatch.GetTimestamp();
                        request.Dispose();
                        if (!resp.IsSuccessStatusCode) { Interlocked.Increment(ref errors); return; }
                        var body = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!;
                        writes.Add(new Write(body["id"]!.GetValue<string>(), body["meta"]!["version"]!.GetValue<string>(), at));
                        writeLatency.Add(Stopwatch.GetElapsedTime(sent, at).TotalMilliseconds);
                    }
                    catch (HttpRequestException)
                    {
                        Interlocked.Increment(ref errors);
                    }
                    finally
                    {
                        outstanding.Release();
                    }
                }));
            }
            await Task.WhenAll(tasks);
            var writeTime = Stopwatch.GetElapsedTime(start);
            var writeLoad = load.Describe();
            var all = writes.ToArray();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (all.Count(x => arrivals.ContainsKey((x.Id, x.Version))) < all.Length && DateTime.UtcNow < deadline) await Task.Delay(100);
            await stop.CancelAsync();
            await consuming;
            // Whether a SET that did not arrive is missing from the stream (the relay) or only from the consumer.
            var inStream = (long)(await js.GetStreamAsync(EventStream.DefaultStream)).Info.State.Messages - users;

            var latencies = new List<double>();
            var early = 0;
            foreach (var x in all)
            {
                if (!arrivals.TryGetValue((x.Id, x.Version), out var at)) continue;
                var ms = (at - x.RespondedAt) * 1000.0 / Stopwatch.Frequency;
                // The SET can reach the consumer before the HTTP response reaches the writer: that counts as 0.
                if (ms < 0) { early++; ms = 0; }
                latencies.Add(ms);
            }
            var l = latencies.Order().ToArray();
            var w = writeLatency.Order().ToArray();
            var md = new StringBuilder();
            md.AppendLine(CultureInfo.InvariantCulture, $"Writes: {all.Length:N0} in {writeTime.TotalSeconds:F1} s ({all.Length / writeTime.TotalSeconds:F0}/s; 30 % user creates, 70 % PATCHes of one of {users:N0} users), {errors} errors; write response time p50 {Pct(w, 0.5):F1} ms, p99 {Pct(w, 0.99):F1} ms. {writeLoad}.");
            md.AppendLine(CultureInfo.InvariantCulture, $"The stream holds {inStream:N0} messages after the seeds; the consumer received {Interlocked.Read(ref received):N0}.");
            md.AppendLine();
            md.AppendLine("| write → JetStream consumer | SETs expected | received | p50 ms | p95 ms | p99 ms | max ms | arrived before the write's response |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            md.AppendLine(CultureInfo.InvariantCulture, $"| durable pull consumer, all subjects, acknowledging | {all.Length:N0} | {l.Length:N0} | {Pct(l, 0.5):F1} | {Pct(l, 0.95):F1} | {Pct(l, 0.99):F1} | {(l.Length == 0 ? double.NaN : l[^1]):F1} | {early:N0} |");
            return md.ToString();
        }
        finally
        {
            nats.Kill(true);
            await nats.WaitForExitAsync();
        }
    }

    private static StringContent Json(JsonObject o) => new(o.ToJsonString(), Encoding.UTF8, "application/scim+json");

    private static double Pct(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
}
