using System.CommandLine;
using System.Text.Json.Nodes;
using ScimSync.Secrets;
using ScimSync.Server.Security;
using ScimSync.Store.Sqlite;
using ScimSync.Sync.Configuration;

namespace ScimSync.Cli;

/// <summary>
/// <c>scimsync keys rotate</c>: a new key seals every secret of a data directory (or of the engine's state), and
/// the old key leaves the key file. The order makes every step safe to interrupt: the new key is added (and on
/// disk) before anything is sealed with it, and the old one is dropped only after everything sealed with it has
/// been re-sealed and committed; until then the key file holds both and every secret opens. An interrupted
/// rotation is finished by running it again.
/// </summary>
internal static class KeysCommand
{
    private static readonly Setting[] ServerKeySettings = [ServerSettings.Data, ServerSettings.KeyFile, ServerSettings.ConfigFile];

    public static Command Create()
    {
        var keys = new Command("keys", "Manage the key file that seals the secrets at rest");
        var rotate = new Command("rotate", "Seal every secret of a server's data directory (or, with --config, of the sync engine's state) with a new key and drop the old one. "
            + "Stop the server or engine first: it refuses while one has the directory open.");
        var engineConfig = Options.EngineConfig(required: false);
        var json = Options.Json();
        rotate.Options.Add(engineConfig);
        rotate.Options.Add(json);
        var settings = ServerSettings.AddOptions(rotate, ServerKeySettings);
        rotate.SetAction(async (parse, ct) =>
        {
            var report = parse.GetValue(engineConfig) is { } config
                ? RotateEngine(config, ServerKeySettings.Any(s => parse.GetValue(settings[s]) is not null))
                : await RotateServerAsync(ServerSettings.Resolve(parse, settings, ServerKeySettings), ct).ConfigureAwait(false);
            if (parse.GetValue(json)) Output.WriteJson(report);
            else
            {
                Console.Out.WriteLine($"key {report["key"]} in {report["keyFile"]} now seals {report["sealed"]}");
                var retired = report["retired"]!.AsArray();
                Console.Out.WriteLine(retired.Count > 0 ? $"retired {string.Join(", ", retired)}" : report["previous"] is null ? "no key existed before" : "nothing to retire");
            }
            return ExitCodes.Ok;
        });
        keys.Subcommands.Add(rotate);
        return keys;
    }

    private static async Task<JsonObject> RotateServerAsync(ServerSettings settings, CancellationToken ct)
    {
        var dir = settings.DataDirectory;
        var db = Path.Combine(dir, "scimsync.db");
        if (!File.Exists(db)) throw CliException.Failed($"no database at {db}");
        var keys = KeyRing.ForDirectory(dir, settings.KeyFilePath);
        // Exclusive: a running server would go on sealing with the key this rotation retires.
        await using var store = new SqliteResourceStore(db, keys: keys, exclusive: true);
        // Seals anything a previous build left in clear and checks that the key file opens what is sealed.
        await store.InitializeAsync(ct).ConfigureAwait(false);
        var previous = keys.CurrentKeyId;
        var current = keys.AddKey();
        var subscriptions = await store.ResealAsync(ct).ConfigureAwait(false);
        CursorKey.Reseal(dir, keys);
        var retired = keys.RetireAllButCurrent();
        return Report(keys, current, previous, retired, $"{subscriptions} subscription signing key(s) and the cursor key");
    }

    private static JsonObject RotateEngine(string configPath, bool serverOptionsToo)
    {
        if (serverOptionsToo) throw CliException.Usage("keys rotate takes either --config (the engine's state) or --data/--key-file/--config-file (a server's data directory), not both");
        var config = ConfigLoader.Load(configPath);
        var keys = KeyRing.ForDirectory(config.StateDirectory, config.KeyFile);
        using var state = EngineState.Open(config, keys, exclusive: true);
        var previous = keys.CurrentKeyId;
        var current = keys.AddKey();
        var count = state.ResealSecrets();
        var retired = keys.RetireAllButCurrent();
        return Report(keys, current, previous, retired, $"{count} secret(s) of the sync state {config.StateDirectory}");
    }

    private static JsonObject Report(KeyRing keys, string current, string? previous, IReadOnlyList<string> retired, string what) => new()
    {
        ["key"] = current,
        ["keyFile"] = keys.FilePath,
        ["previous"] = previous,
        ["retired"] = new JsonArray(retired.Select(r => (JsonNode)r).ToArray()),
        ["sealed"] = what,
    };
}
