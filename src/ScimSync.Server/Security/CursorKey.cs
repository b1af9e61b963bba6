using System.Security.Cryptography;
using System.Text;
using ScimSync.Secrets;

namespace ScimSync.Server.Security;

/// <summary>
/// The HMAC key of RFC 9865 cursors, kept in <c>DATA_DIR/cursor.key</c> so that cursors outlive a restart, and
/// sealed there with the key file kept apart (docs/compliance.md). A previous build wrote it as clear base64:
/// such a file is sealed in place at start, keeping the key, so cursors already handed out stay valid.
/// </summary>
public static class CursorKey
{
    public const string FileName = "cursor.key";
    private const string Purpose = "cursor.key";

    /// <summary>
    /// The key the store keeps for every instance that shares it (PostgreSQL: instances behind one load balancer
    /// must accept each other's cursors), else the one in the data directory.
    /// </summary>
    public static byte[] LoadOrCreate(Store.IResourceStore store, string dataDirectory, KeyRing keys)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.SharedSecretAsync(Purpose, () => RandomNumberGenerator.GetBytes(32), CancellationToken.None).GetAwaiter().GetResult()
            ?? LoadOrCreate(dataDirectory, keys);
    }

    public static byte[] LoadOrCreate(string dataDirectory, KeyRing keys)
    {
        var path = Path.Combine(dataDirectory, FileName);
        if (!File.Exists(path))
        {
            var key = RandomNumberGenerator.GetBytes(32);
            Write(path, key, keys);
            return key;
        }
        var text = File.ReadAllText(path).Trim();
        if (KeyRing.IsSealed(text)) return keys.Unseal(text, Purpose);
        var clear = Convert.FromBase64String(text);
        Write(path, clear, keys);
        return clear;
    }

    /// <summary>Key rotation: the same cursor key, sealed with the ring's current key.</summary>
    public static void Reseal(string dataDirectory, KeyRing keys)
    {
        var path = Path.Combine(dataDirectory, FileName);
        if (File.Exists(path)) Write(path, LoadOrCreate(dataDirectory, keys), keys);
    }

    private static void Write(string path, byte[] key, KeyRing keys) =>
        PrivateFiles.WriteAtomically(path, Encoding.ASCII.GetBytes(keys.Seal(key, Purpose) + "\n"));
}
