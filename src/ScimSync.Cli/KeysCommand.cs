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
        rotate.Options.Add(EngineState.StateOption);
        rotate.Options.Add(json);
        var settings = ServerSettings.AddOptions(rotate, ServerKeySettings);
        rotate.SetAction(async (parse, ct) =>
        {
            if (parse.GetValue(EngineState.StateOption) is not null && parse.GetValue(engineConfig) is null)
                throw CliException.Usage("--state goes with --config (the engine's state in PostgreSQL)");
            var report = parse.GetValue(engineConfig) is { } config
                ? RotateEngine(config, parse.GetValue(EngineState.StateOption), ServerKeySettings.Any(s => parse.GetValue(settings[s]) is not null))
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

    /// <param name="shared">A <c>postgres://</c> state (docs/postgres.md): it has no lock to take, so every engine on it must
    /// be stopped, which is checked before the rotation and again before the old key is retired.</param>
    private static JsonObject RotateEngine(string configPath, string? shared, bool serverOptionsToo)
    {
        if (serverOptionsToo) throw CliException.Usage("keys rotate takes either --config (the engine's state) or --data/--key-file/--config-file (a server's data directory), not both");
        var config = ConfigLoader.Load(configPath);
        var keys = KeyRing.ForDirectory(config.StateDirectory, config.KeyFile);
        using var state = EngineState.Open(config, keys, exclusive: true, state: shared);
        var previous = keys.CurrentKeyId;
        var current = keys.AddKey();
        var count = state.ResealSecrets();
        var what = $"{count} secret(s) of the sync state {EngineState.Describe(config, state)}";
        // Started meanwhile with the key file as it was: the old key stays, so that it still opens what it had; running
        // the rotation again, with every engine stopped, retires it.
        if (EngineState.InUseBy(state) is { Count: > 0 } started)
        {
            Console.Error.WriteLine($"scimsync: {string.Join(", ", started)} started during the rotation: the old key is kept in {keys.FilePath}; stop every engine and run `scimsync keys rotate` again to retire it");
            return Report(keys, current, previous, [], what);
        }
        var retired = keys.RetireAllButCurrent();
        return Report(keys, current, previous, retired, what);
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
