using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace ScimSync.Cli;

/// <summary>
/// `scimsync events ...`: manages subscriptions of a running server through its REST API
/// (/feeds/v1/subscriptions), so it works the same against a local or a remote server.
/// </summary>
internal static class EventsCommand
{
    public static async Task<int> RunAsync(CommandLine cmd)
    {
        var verb = cmd.Positional.FirstOrDefault() ?? throw new UsageException("events needs list, create, show, pause, resume, delete, rewind, dead-letters, replay or discard");
        var url = (cmd.Get("url") ?? "http://127.0.0.1:8080").TrimEnd('/');
        var token = cmd.Get("token") ?? Environment.GetEnvironmentVariable("SCIMSYNC_TOKEN") ?? Environment.GetEnvironmentVariable("SCIMSYNC_ADMIN_TOKEN")
            ?? throw new UsageException("events needs --token (or SCIMSYNC_TOKEN) with the admin scope");
        using var http = new HttpClient { BaseAddress = new Uri(url + "/feeds/v1/subscriptions/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        string Id() => cmd.Positional.ElementAtOrDefault(1) ?? throw new UsageException($"events {verb} needs a subscription id or name");
        switch (verb)
        {
            case "list":
                var list = await Send(http, HttpMethod.Get, "", null).ConfigureAwait(false);
                var table = new Table().AddColumns("id", "name", "state", "delivery", "payload", "pending", "oldest (s)", "dead");
                foreach (var s in list["subscriptions"]!.AsArray())
                    table.AddRow(Esc(s!["id"]), Esc(s["name"]), Esc(s["state"]), Esc(s["delivery"]), Esc(s["payload"]),
                        Esc(s["stats"]!["pending"]), Esc(s["stats"]!["oldestPendingAgeSeconds"]), Esc(s["stats"]!["deadLetters"]));
                AnsiConsole.Write(table);
                return 0;
            case "create":
                var body = new JsonObject
                {
                    ["name"] = cmd.Get("name") ?? throw new UsageException("events create needs --name"),
                    ["audience"] = cmd.Get("audience") ?? throw new UsageException("events create needs --audience"),
                    ["delivery"] = cmd.Get("delivery") ?? "poll",
                    ["payload"] = cmd.Get("payload") ?? "notice",
                    ["signing"] = cmd.Get("signing") ?? "HS256",
                };
                if (cmd.Get("push-url") is { } pushUrl) body["pushUrl"] = pushUrl;
                if (cmd.Has("push-batch")) body["pushBatch"] = cmd.GetInt("push-batch", 1);
                if (cmd.Has("coalesce")) body["coalesce"] = true;
                if (cmd.Get("filter") is { } filter) body["filter"] = filter;
                if (cmd.Get("types") is { } types) body["resourceTypes"] = new JsonArray(types.Split(',').Select(t => (JsonNode)t.Trim()).ToArray());
                if (cmd.Get("ignore") is { } ignore) body["ignoredAttributes"] = new JsonArray(ignore.Split(',').Select(t => (JsonNode)t.Trim()).ToArray());
                if (cmd.Get("start-after") is { } start) body["startAfter"] = long.Parse(start, CultureInfo.InvariantCulture);
                Console.WriteLine((await Send(http, HttpMethod.Post, "", body).ConfigureAwait(false)).ToJsonString(Pretty));
                return 0;
            case "show":
                Console.WriteLine((await Send(http, HttpMethod.Get, Id(), null).ConfigureAwait(false)).ToJsonString(Pretty));
                return 0;
            case "pause" or "resume" or "disable":
                var state = verb switch { "pause" => "paused", "resume" => "active", _ => "disabled" };
                await Send(http, HttpMethod.Patch, Id(), new JsonObject { ["state"] = state }).ConfigureAwait(false);
                Console.WriteLine($"{Id()}: {state}");
                return 0;
            case "delete":
                await Send(http, HttpMethod.Delete, Id(), null).ConfigureAwait(false);
                Console.WriteLine($"{Id()}: deleted");
                return 0;
            case "rewind":
                var position = long.Parse(cmd.Get("position") ?? throw new UsageException("events rewind needs --position"), CultureInfo.InvariantCulture);
                await Send(http, HttpMethod.Post, Id() + "/rewind", new JsonObject { ["position"] = position }).ConfigureAwait(false);
                Console.WriteLine($"{Id()}: delivering again after position {position}");
                return 0;
            case "dead-letters":
                var dead = await Send(http, HttpMethod.Get, Id() + "/dead-letters", null).ConfigureAwait(false);
                var dt = new Table().AddColumns("jti", "position", "resource", "attempts", "error");
                foreach (var d in dead["deadLetters"]!.AsArray())
                    dt.AddRow(Esc(d!["jti"]), Esc(d["position"]), Esc(d["resourceId"]), Esc(d["attempts"]), Esc(d["error"]));
                AnsiConsole.Write(dt);
                return 0;
            case "replay":
                var replayed = await Send(http, HttpMethod.Post, Id() + "/dead-letters/replay", new JsonObject()).ConfigureAwait(false);
                Console.WriteLine($"{Id()}: {replayed["replayed"]} dead letters queued again");
                return 0;
            case "discard":
                var discarded = await Send(http, HttpMethod.Delete, Id() + "/dead-letters", null).ConfigureAwait(false);
                Console.WriteLine($"{Id()}: {discarded["discarded"]} dead letters deleted; they will not be delivered");
                return 0;
            default:
                throw new UsageException($"Unknown events command \"{verb}\"");
        }
    }

    private static readonly System.Text.Json.JsonSerializerOptions Pretty = new() { WriteIndented = true };

    private static string Esc(JsonNode? n) => Markup.Escape(n?.ToString() ?? "");

    private static async Task<JsonObject> Send(HttpClient http, HttpMethod method, string path, JsonObject? body)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new UsageException($"cannot reach the server at {http.BaseAddress}: {e.Message}");
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var detail = text.Length > 0 && JsonNode.Parse(text) is JsonObject err ? err["detail"]?.ToString() ?? text : response.ReasonPhrase;
                throw new UsageException($"{(int)response.StatusCode}: {detail}");
            }
            return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text) as JsonObject ?? new JsonObject();
        }
    }
}
