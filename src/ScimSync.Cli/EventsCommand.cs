using System.CommandLine;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace ScimSync.Cli;

/// <summary>
/// <c>scimsync events ...</c>: manages the event subscriptions of a running server through its API
/// (/feeds/v1/subscriptions), so it works the same against a local or a remote server. What the server
/// answers maps onto the exit codes: 400 (a value it refuses) is a usage error (2), 401 and 403 a credential
/// that cannot be used (3), anything else, or no answer, a failure (1).
/// </summary>
internal static class EventsCommand
{
    public static Command Create()
    {
        var events = new Command("events", "Manage event subscriptions of a running server (admin token). A subscription whose dead-letter list is full is suspended: replay or discard its dead letters, then resume it.");
        var url = new Option<string>("--url")
        {
            Description = "The server (default http://127.0.0.1:8080) [env: SCIMSYNC_URL]",
            HelpName = "URL",
            Recursive = true,
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("SCIMSYNC_URL") is { Length: > 0 } u ? u : "http://127.0.0.1:8080",
        };
        var token = new Option<string?>("--token") { Description = "A token with the admin scope [env: SCIMSYNC_TOKEN, else SCIMSYNC_ADMIN_TOKEN]", HelpName = "TOKEN", Recursive = true };
        events.Options.Add(url);
        events.Options.Add(token);

        Api Connect(ParseResult parse) => new(parse.GetValue(url)!, parse.GetValue(token)
            ?? (Environment.GetEnvironmentVariable("SCIMSYNC_TOKEN") is { Length: > 0 } t ? t : null)
            ?? (Environment.GetEnvironmentVariable("SCIMSYNC_ADMIN_TOKEN") is { Length: > 0 } a ? a : null)
            ?? throw CliException.Usage("events needs --token (or SCIMSYNC_TOKEN) with the admin scope"));

        var list = new Command("list", "List the subscriptions with their state and backlog");
        var listJson = Options.Json();
        list.Options.Add(listJson);
        list.SetAction(async (parse, ct) =>
        {
            using var api = Connect(parse);
            var answer = await api.SendAsync(HttpMethod.Get, "", null, ct).ConfigureAwait(false);
            if (parse.GetValue(listJson))
            {
                Output.WriteJson(answer);
                return ExitCodes.Ok;
            }
            Output.Table(["id", "name", "state", "delivery", "payload", "pending", "oldest (s)", "dead"],
                (answer["subscriptions"] as JsonArray ?? []).OfType<JsonObject>().Select(s => (IReadOnlyList<string>)[
                    Text(s["id"]), Text(s["name"]), Text(s["state"]), Text(s["delivery"]), Text(s["payload"]),
                    Text(s["stats"]?["pending"]), Text(s["stats"]?["oldestPendingAgeSeconds"]), Text(s["stats"]?["deadLetters"])]));
            return ExitCodes.Ok;
        });

        var create = new Command("create", "Create a subscription; its signing secret (HS256) is shown once");
        var name = new Option<string>("--name") { Description = "Name of the subscription (unique)", Required = true };
        var audience = new Option<string>("--audience") { Description = "The aud of its SETs: who receives them", Required = true };
        var delivery = new Option<string>("--delivery") { Description = "poll (RFC 8936) or push (RFC 8935)", DefaultValueFactory = _ => "poll" };
        delivery.AcceptOnlyFromAmong("poll", "push");
        var pushUrl = new Option<string?>("--push-url") { Description = "Where push delivery posts (allowed by the server's --push-allow)", HelpName = "URL" };
        var pushBatch = Options.Positive("--push-batch", "SETs per push request");
        var payload = new Option<string>("--payload") { Description = "full (resource in the event) or notice (id and changed attributes)", DefaultValueFactory = _ => "notice" };
        payload.AcceptOnlyFromAmong("full", "notice");
        var coalesce = new Option<bool>("--coalesce") { Description = "With --payload notice: one event per resource for a backlog of changes" };
        var types = new Option<string?>("--types") { Description = "Resource types to follow (default all)", HelpName = "User,Group" };
        var filter = new Option<string?>("--filter") { Description = "SCIM filter the changed resource must match", HelpName = "FILTER" };
        var ignore = new Option<string?>("--ignore") { Description = "Attributes whose changes alone raise no event", HelpName = "ATTR[,ATTR...]" };
        var signing = new Option<string>("--signing") { Description = "How SETs are signed", DefaultValueFactory = _ => "HS256" };
        signing.AcceptOnlyFromAmong("HS256", "RS256", "ES256", "none");
        var startAfter = Options.Position("--start-after", "Deliver changes after this journal position (default: from now)");
        var createJson = Options.Json();
        foreach (var o in new Option[] { name, audience, delivery, pushUrl, pushBatch, payload, coalesce, types, filter, ignore, signing, startAfter, createJson }) create.Options.Add(o);
        create.SetAction(async (parse, ct) =>
        {
            using var api = Connect(parse);
            var body = new JsonObject
            {
                ["name"] = parse.GetValue(name), ["audience"] = parse.GetValue(audience), ["delivery"] = parse.GetValue(delivery),
                ["payload"] = parse.GetValue(payload), ["signing"] = parse.GetValue(signing),
            };
            if (parse.GetValue(pushUrl) is { } pu) body["pushUrl"] = pu;
            if (parse.GetValue(pushBatch) is { } pb) body["pushBatch"] = pb;
            if (parse.GetValue(coalesce)) body["coalesce"] = true;
            if (parse.GetValue(filter) is { } f) body["filter"] = f;
            if (parse.GetValue(types) is { } ty) body["resourceTypes"] = List(ty);
            if (parse.GetValue(ignore) is { } ig) body["ignoredAttributes"] = List(ig);
            if (parse.GetValue(startAfter) is { } sa) body["startAfter"] = sa;
            var created = await api.SendAsync(HttpMethod.Post, "", body, ct).ConfigureAwait(false);
            if (parse.GetValue(createJson)) Output.WriteJson(created);
            else Output.Fields(created);
            return ExitCodes.Ok;
        });

        var show = new Command("show", "Show one subscription: settings, state, backlog");
        var showJson = Options.Json();
        show.Options.Add(showJson);
        WithId(show, async (parse, api, id, ct) =>
        {
            var subscription = await api.SendAsync(HttpMethod.Get, Uri.EscapeDataString(id), null, ct).ConfigureAwait(false);
            if (parse.GetValue(showJson)) Output.WriteJson(subscription);
            else Output.Fields(subscription);
        });

        Command StateChange(string verb, string state, string description)
        {
            var command = new Command(verb, description);
            WithId(command, async (_, api, id, ct) =>
            {
                await api.SendAsync(HttpMethod.Patch, Uri.EscapeDataString(id), new JsonObject { ["state"] = state }, ct).ConfigureAwait(false);
                Console.Out.WriteLine($"{id}: {state}");
            });
            return command;
        }

        var delete = new Command("delete", "Delete a subscription and its undelivered events");
        WithId(delete, async (_, api, id, ct) =>
        {
            await api.SendAsync(HttpMethod.Delete, Uri.EscapeDataString(id), null, ct).ConfigureAwait(false);
            Console.Out.WriteLine($"{id}: deleted");
        });

        var rewind = new Command("rewind", "Deliver again every change after a journal position");
        var position = Options.Position("--position", "The journal position to deliver after", required: true);
        rewind.Options.Add(position);
        WithId(rewind, async (parse, api, id, ct) =>
        {
            var after = parse.GetValue(position)!.Value;
            await api.SendAsync(HttpMethod.Post, Uri.EscapeDataString(id) + "/rewind", new JsonObject { ["position"] = after }, ct).ConfigureAwait(false);
            Console.Out.WriteLine($"{id}: delivering again after position {after}");
        });

        var deadLetters = new Command("dead-letters", "List the events push delivery gave up on");
        var deadJson = Options.Json();
        deadLetters.Options.Add(deadJson);
        WithId(deadLetters, async (parse, api, id, ct) =>
        {
            var dead = await api.SendAsync(HttpMethod.Get, Uri.EscapeDataString(id) + "/dead-letters", null, ct).ConfigureAwait(false);
            if (parse.GetValue(deadJson))
            {
                Output.WriteJson(dead);
                return;
            }
            Output.Table(["jti", "position", "resource", "attempts", "error"],
                (dead["deadLetters"] as JsonArray ?? []).OfType<JsonObject>().Select(d => (IReadOnlyList<string>)[
                    Text(d["jti"]), Text(d["position"]), Text(d["resourceId"]), Text(d["attempts"]), Text(d["error"])]));
        });

        var replay = new Command("replay", "Queue the dead letters for delivery again");
        WithId(replay, async (_, api, id, ct) =>
        {
            var replayed = await api.SendAsync(HttpMethod.Post, Uri.EscapeDataString(id) + "/dead-letters/replay", new JsonObject(), ct).ConfigureAwait(false);
            Console.Out.WriteLine($"{id}: {Text(replayed["replayed"])} dead letters queued again");
        });

        var discard = new Command("discard", "Delete the dead letters; they will not be delivered");
        WithId(discard, async (_, api, id, ct) =>
        {
            var discarded = await api.SendAsync(HttpMethod.Delete, Uri.EscapeDataString(id) + "/dead-letters", null, ct).ConfigureAwait(false);
            Console.Out.WriteLine($"{id}: {Text(discarded["discarded"])} dead letters deleted; they will not be delivered");
        });

        foreach (var c in new[]
        {
            list, create, show,
            StateChange("pause", "paused", "Stop delivering (events keep accumulating)"),
            StateChange("resume", "active", "Deliver again (also ends a suspension)"),
            StateChange("disable", "disabled", "Stop delivering and accumulating"),
            delete, rewind, deadLetters, replay, discard,
        })
            events.Subcommands.Add(c);
        return events;

        void WithId(Command command, Func<ParseResult, Api, string, CancellationToken, Task> work)
        {
            var id = new Argument<string>("ID") { Description = "The subscription's id or name" };
            command.Arguments.Add(id);
            command.SetAction(async (parse, ct) =>
            {
                using var api = Connect(parse);
                await work(parse, api, parse.GetValue(id)!, ct).ConfigureAwait(false);
                return ExitCodes.Ok;
            });
        }
    }

    private static JsonArray List(string csv) => new(csv.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(t => (JsonNode)t).ToArray());

    private static string Text(JsonNode? n) => n?.ToString() ?? "";

    /// <summary>The subscriptions API of one server, with one token.</summary>
    private sealed class Api(string url, string token) : IDisposable
    {
        private readonly HttpClient _http = Client(url, token);

        private static HttpClient Client(string url, string token)
        {
            if (!Uri.TryCreate(url.TrimEnd('/') + "/feeds/v1/subscriptions/", UriKind.Absolute, out var baseAddress) || baseAddress.Scheme is not ("http" or "https"))
                throw CliException.Usage($"--url needs an http:// or https:// URL, not \"{url}\"");
            var http = new HttpClient { BaseAddress = baseAddress };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return http;
        }

        public async Task<JsonObject> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken ct)
        {
            using var request = new HttpRequestMessage(method, path);
            if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw CliException.Failed($"cannot reach the server at {_http.BaseAddress}: {e.Message}");
            }
            using (response)
            {
                var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    string? detail = null;
                    try
                    {
                        detail = text.Length > 0 && JsonNode.Parse(text) is JsonObject err ? err["detail"]?.ToString() : null;
                    }
                    catch (System.Text.Json.JsonException)
                    {
                    }
                    var message = $"{(int)response.StatusCode}: {detail ?? response.ReasonPhrase}";
                    throw new CliException((int)response.StatusCode switch
                    {
                        400 => ExitCodes.Usage,
                        401 or 403 => ExitCodes.Configuration,
                        _ => ExitCodes.Failed,
                    }, message);
                }
                return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text) as JsonObject ?? new JsonObject();
            }
        }

        public void Dispose() => _http.Dispose();
    }
}
