using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using ScimSync.Server.Security;
using ScimSync.Server;
using ScimSync.Server.Hosting;
using ScimSync.Store;
using ScimSync.Store.Tokens;

namespace ScimSync.Cli;

/// <summary>
/// <c>scimsync token create|list|revoke</c> and <c>scimsync status</c>: they open a data directory's store
/// directly, beside a running server if there is one (SQLite is shared; a revocation takes effect on the
/// server's next request). The store is found as <c>serve</c> finds it: --store, SCIMSYNC_STORE, "store" in
/// --config-file (a PostgreSQL database several servers share), else the SQLite file of the data directory
/// (--data, SCIMSYNC_DATA, "data" in --config-file, ./scimsync-data).
/// </summary>
internal static class TokenCommand
{
    private static readonly Setting[] StoreSettings = [ServerSettings.Data, ServerSettings.Store, ServerSettings.ConfigFile];

    public static Command Create()
    {
        var token = new Command("token", "Manage bearer tokens of a data directory. Only a hash is stored; the secret is printed once, at creation. Scopes: scim:read, scim:write, admin.");

        var create = new Command("create", "Create a token and print its secret (once) on standard output");
        var name = new Option<string>("--name") { Description = "Name of the token (unique)", Required = true };
        var scopes = new Option<string>("--scopes") { Description = "Comma-separated scopes: scim:read, scim:write, admin", HelpName = "SCOPE[,SCOPE...]", DefaultValueFactory = _ => "scim:read,scim:write" };
        scopes.CompletionSources.Add("scim:read", "scim:write", "admin", "scim:read,scim:write");
        var user = new Option<string?>("--user") { Description = "The User id /Me answers for with this token", HelpName = "USER_ID" };
        var expires = Options.Positive("--expires-days", "Days until the token expires (default: never)");
        var createJson = Options.Json();
        create.Options.Add(name);
        create.Options.Add(scopes);
        create.Options.Add(user);
        create.Options.Add(expires);
        create.Options.Add(createJson);
        var createSettings = ServerSettings.AddOptions(create, StoreSettings);
        create.SetAction(async (parse, ct) =>
        {
            await using var store = await OpenAsync(parse, createSettings, ct).ConfigureAwait(false);
            var service = new TokenService(store.Tokens, TimeProvider.System, null);
            DateTimeOffset? expiry = parse.GetValue(expires) is { } days ? DateTimeOffset.UtcNow.AddDays(days) : null;
            var requested = parse.GetValue(scopes)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            string secret;
            AccessToken created;
            try
            {
                (secret, created) = await service.CreateAsync(parse.GetValue(name)!, requested, parse.GetValue(user), expiry, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                throw CliException.Usage(e.Message);
            }
            if (parse.GetValue(createJson))
            {
                Output.WriteJson(new JsonObject
                {
                    ["id"] = created.Id, ["name"] = created.Name, ["scopes"] = new JsonArray(created.Scopes.Select(x => (JsonNode)x).ToArray()),
                    ["userId"] = created.UserId, ["expires"] = created.Expires?.ToString("O"), ["secret"] = secret,
                });
                return ExitCodes.Ok;
            }
            // The secret alone on standard output, so that `secret=$(scimsync token create ...)` works.
            Console.Error.WriteLine($"created token {created.Id} \"{created.Name}\" with scopes {string.Join(' ', created.Scopes)}; the secret is shown once:");
            Console.Out.WriteLine(secret);
            return ExitCodes.Ok;
        });

        var list = new Command("list", "List the tokens (never their secrets)");
        var listJson = Options.Json();
        list.Options.Add(listJson);
        var listSettings = ServerSettings.AddOptions(list, StoreSettings);
        list.SetAction(async (parse, ct) =>
        {
            await using var store = await OpenAsync(parse, listSettings, ct).ConfigureAwait(false);
            var tokens = await store.Tokens.ListAsync(ct).ConfigureAwait(false);
            var now = DateTimeOffset.UtcNow;
            string State(AccessToken t) => t.Revoked is not null ? "revoked" : t.Expires is { } e && e <= now ? "expired" : "active";
            if (parse.GetValue(listJson))
            {
                Output.WriteJson(new JsonArray(tokens.Select(t => (JsonNode)new JsonObject
                {
                    ["id"] = t.Id, ["name"] = t.Name, ["scopes"] = new JsonArray(t.Scopes.Select(x => (JsonNode)x).ToArray()), ["userId"] = t.UserId,
                    ["created"] = t.Created.ToString("O"), ["expires"] = t.Expires?.ToString("O"), ["revoked"] = t.Revoked?.ToString("O"), ["state"] = State(t),
                }).ToArray()));
                return ExitCodes.Ok;
            }
            Output.Table(["id", "name", "scopes", "user", "created", "expires", "state"],
                tokens.Select(t => (IReadOnlyList<string>)[t.Id, t.Name, string.Join(' ', t.Scopes), t.UserId ?? "", t.Created.ToString("u"), t.Expires?.ToString("u") ?? "", State(t)]));
            return ExitCodes.Ok;
        });

        var revoke = new Command("revoke", "Revoke a token; servers refuse it from their next request");
        var key = new Argument<string>("ID_OR_NAME") { Description = "The token's id or name" };
        revoke.Arguments.Add(key);
        var revokeSettings = ServerSettings.AddOptions(revoke, StoreSettings);
        revoke.SetAction(async (parse, ct) =>
        {
            await using var store = await OpenAsync(parse, revokeSettings, ct).ConfigureAwait(false);
            var id = parse.GetValue(key)!;
            if (!await new TokenService(store.Tokens, TimeProvider.System, null).RevokeAsync(id, ct).ConfigureAwait(false))
                throw CliException.Failed($"no active token \"{id}\"");
            Console.Out.WriteLine($"revoked {id}; servers refuse it from their next request");
            return ExitCodes.Ok;
        });

        token.Subcommands.Add(create);
        token.Subcommands.Add(list);
        token.Subcommands.Add(revoke);
        return token;
    }

    public static Command CreateStatus()
    {
        var status = new Command("status", "Counts and file sizes of a data directory's store");
        var json = Options.Json();
        status.Options.Add(json);
        var settings = ServerSettings.AddOptions(status, StoreSettings);
        status.SetAction(async (parse, ct) =>
        {
            await using var store = await OpenAsync(parse, settings, ct, mustExist: true).ConfigureAwait(false);
            var facts = await store.DescribeAsync(ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                Output.WriteJson(facts);
                return ExitCodes.Ok;
            }
            Output.Table(["fact", "value"], facts.Select(kv => (IReadOnlyList<string>)[kv.Key, Convert.ToString(kv.Value, CultureInfo.InvariantCulture) ?? ""]));
            return ExitCodes.Ok;
        });
        return status;
    }

    private static async Task<IResourceStore> OpenAsync(ParseResult parse, IReadOnlyDictionary<Setting, Option<string?>> options, CancellationToken ct, bool mustExist = false)
    {
        var settings = ServerSettings.Resolve(parse, options, StoreSettings);
        var server = new ScimServerOptions { DataDirectory = settings.DataDirectory, Store = settings.StoreUrl };
        if (mustExist && server.Store is null && !File.Exists(server.DatabasePath)) throw CliException.Failed($"no database at {server.DatabasePath}");
        // No key ring: tokens are stored as hashes, and these commands read no sealed secret.
        var store = StoreFactory.Create(server, keys: null);
        try
        {
            await store.InitializeAsync(ct).ConfigureAwait(false);
            return store;
        }
        catch (Exception e) when (server.Store is not null && e is System.Data.Common.DbException or TimeoutException or System.Net.Sockets.SocketException)
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw CliException.Failed($"cannot open the store {StoreFactory.Describe(server)}: {e.Message}");
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
