using ScimSync.Secrets;
using ScimSync.Server.Security;
using ScimSync.Store.Sqlite;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Shadows;

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
    public static async Task<int> RunAsync(CommandLine cmd)
    {
        var verb = cmd.Positional.FirstOrDefault() ?? throw new UsageException("keys needs rotate");
        if (verb != "rotate") throw new UsageException($"Unknown keys command \"{verb}\"");
        return cmd.Get("config") is { } config ? RotateEngine(config) : await RotateServerAsync(cmd).ConfigureAwait(false);
    }

    private static async Task<int> RotateServerAsync(CommandLine cmd)
    {
        var dir = Cli.DataDir(cmd);
        var db = Path.Combine(dir, "scimsync.db");
        if (!File.Exists(db)) throw new UsageException($"No database at {db}");
        var keys = KeyRing.ForDirectory(dir, Cli.KeyFile(cmd));
        // Exclusive: a running server would go on sealing with the key this rotation retires.
        await using var store = new SqliteResourceStore(db, keys: keys, exclusive: true);
        // Seals anything a previous build left in clear and checks that the key file opens what is sealed.
        await store.InitializeAsync(CancellationToken.None).ConfigureAwait(false);
        var previous = keys.CurrentKeyId;
        var current = keys.AddKey();
        var subscriptions = await store.ResealAsync(CancellationToken.None).ConfigureAwait(false);
        CursorKey.Reseal(dir, keys);
        var retired = keys.RetireAllButCurrent();
        Report(keys, current, previous, retired, $"{subscriptions} subscription signing key(s) and the cursor key");
        return 0;
    }

    private static int RotateEngine(string configPath)
    {
        SyncConfig config;
        try
        {
            config = ConfigLoader.Load(configPath);
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine("scimsync: " + e.Message);
            return 3;
        }
        var keys = KeyRing.ForDirectory(config.StateDirectory, config.KeyFile);
        using var state = ShadowStore.Open(config.StateDirectory, keys, exclusive: true);
        var previous = keys.CurrentKeyId;
        var current = keys.AddKey();
        var count = state.ResealSecrets();
        var retired = keys.RetireAllButCurrent();
        Report(keys, current, previous, retired, $"{count} secret(s) of the sync state {config.StateDirectory}");
        return 0;
    }

    private static void Report(KeyRing keys, string current, string? previous, IReadOnlyList<string> retired, string what)
    {
        Console.WriteLine($"key {current} in {keys.FilePath} now seals {what}");
        Console.WriteLine(retired.Count > 0
            ? $"retired {string.Join(", ", retired)}"
            : previous is null ? "no key existed before" : "nothing to retire");
    }
}
