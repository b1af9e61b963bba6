using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ScimSync.Secrets;

/// <summary>
/// The keys that seal secrets kept beside the data (event-feed signing keys, the cursor key, the sync engine's
/// feed secret), held in a key file kept apart from that data: a copy of the data directory, a backup of it or a
/// stray database file then carries no usable secret. Sealing is AES-256-GCM with a random 96-bit nonce; the
/// sealed text names its key and is bound to its purpose (the row or file it belongs to, as associated data), so
/// a sealed value moved to another place does not open.
/// </summary>
/// <remarks>
/// Why a key file of our own rather than ASP.NET Core Data Protection: on Linux without a certificate, Data
/// Protection keeps its key ring as clear XML files too, so it would add a directory, not protection; it rotates
/// on its own schedule (new keys every 90 days, created by whichever process runs), where an operator needs a
/// rotation that happens when asked and finishes with every secret re-sealed; and the sync engine, which has no
/// ASP.NET, needs the same format. One file, a documented format, the platform's AES-GCM.
///
/// The file holds one current key, which seals, and during a rotation also the previous ones, which still open
/// what they sealed until the rotation has re-sealed everything and retires them (docs/compliance.md).
/// </remarks>
public sealed class KeyRing
{
    /// <summary>Starts every sealed value, so a clear one is told apart (and found by migration).</summary>
    public const string Prefix = "scimsync-sealed:v1:";

    private const string Format = "scimsync-keys/1";
    private const int KeyBytes = 32, NonceBytes = 12, TagBytes = 16;

    private readonly Lock _gate = new();
    private Dictionary<string, byte[]> _keys;
    private string? _current;

    private KeyRing(string path, Dictionary<string, byte[]> keys, string? current)
    {
        FilePath = path;
        _keys = keys;
        _current = current;
    }

    public string FilePath { get; }

    /// <summary>The key new seals use; null until the file exists.</summary>
    public string? CurrentKeyId
    {
        get { lock (_gate) return _current; }
    }

    /// <summary>The key file of <paramref name="directory"/> when none is named: beside it, <c>DIR.key</c>.</summary>
    public static string DefaultPathFor(string directory) =>
        Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)) + ".key";

    /// <summary>
    /// The key ring for the secrets of <paramref name="directory"/>: <paramref name="keyFile"/>, or the default
    /// beside the directory. A key file inside the directory it protects is refused: it would travel with every
    /// copy of the data, which is what keeping it apart is for.
    /// </summary>
    public static KeyRing ForDirectory(string directory, string? keyFile)
    {
        var path = Path.GetFullPath(keyFile ?? DefaultPathFor(directory));
        var dir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)) + Path.DirectorySeparatorChar;
        if (path.StartsWith(dir, StringComparison.Ordinal))
            throw new PrivateDataException($"key file {path} is inside {dir.TrimEnd(Path.DirectorySeparatorChar)}; keep it outside the directory whose secrets it seals");
        return Load(path);
    }

    /// <summary>
    /// Reads the key file, refusing one that group or others can read or write. A missing file is an empty ring,
    /// created (0600) on the first seal, so that pointing at the wrong place never silently starts a new one
    /// beside data sealed with another.
    /// </summary>
    public static KeyRing Load(string path)
    {
        path = Path.GetFullPath(path);
        if (!File.Exists(path)) return new KeyRing(path, new Dictionary<string, byte[]>(StringComparer.Ordinal), null);
        PrivateFiles.CheckFile(path);
        try
        {
            var root = JsonNode.Parse(File.ReadAllBytes(path))!.AsObject();
            if (root["format"]?.GetValue<string>() != Format) throw new FormatException($"format is not \"{Format}\"");
            var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var k in root["keys"]!.AsArray())
            {
                var key = Convert.FromBase64String(k!["key"]!.GetValue<string>());
                if (key.Length != KeyBytes) throw new FormatException("a key is not 256 bits");
                keys[k["id"]!.GetValue<string>()] = key;
            }
            var current = root["current"]!.GetValue<string>();
            if (!keys.ContainsKey(current)) throw new FormatException($"the current key {current} is not in the file");
            return new KeyRing(path, keys, current);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or NullReferenceException)
        {
            throw new PrivateDataException($"key file {path} cannot be read ({e.Message})");
        }
    }

    public static bool IsSealed(string text) => text.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>The key a sealed value names.</summary>
    public static string KeyIdOf(string sealedText) => Parts(sealedText).KeyId;

    public bool Holds(string keyId)
    {
        lock (_gate) return _keys.ContainsKey(keyId);
    }

    public string Seal(string plaintext, string purpose) => Seal(Encoding.UTF8.GetBytes(plaintext), purpose);

    public string Seal(ReadOnlySpan<byte> plaintext, string purpose)
    {
        string keyId;
        byte[] key;
        lock (_gate)
        {
            if (_current is null) AddKeyLocked();
            keyId = _current!;
            key = _keys[keyId];
        }
        var output = new byte[NonceBytes + plaintext.Length + TagBytes];
        var nonce = output.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagBytes);
        aes.Encrypt(nonce, plaintext, output.AsSpan(NonceBytes, plaintext.Length), output.AsSpan(NonceBytes + plaintext.Length), Associated(keyId, purpose));
        return Prefix + keyId + ":" + Base64Url.EncodeToString(output);
    }

    public string UnsealText(string sealedText, string purpose) => Encoding.UTF8.GetString(Unseal(sealedText, purpose));

    public byte[] Unseal(string sealedText, string purpose)
    {
        var (keyId, payload) = Parts(sealedText);
        byte[]? key;
        lock (_gate) _keys.TryGetValue(keyId, out key);
        if (key is null)
            throw new PrivateDataException($"a secret ({purpose}) is sealed with key {keyId}, which key file {FilePath} does not hold; point the service at the key file that sealed it");
        if (payload.Length < NonceBytes + TagBytes) throw new PrivateDataException($"a sealed secret ({purpose}) is truncated");
        var plaintext = new byte[payload.Length - NonceBytes - TagBytes];
        try
        {
            using var aes = new AesGcm(key, TagBytes);
            aes.Decrypt(payload.AsSpan(0, NonceBytes), payload.AsSpan(NonceBytes, plaintext.Length), payload.AsSpan(NonceBytes + plaintext.Length), plaintext, Associated(keyId, purpose));
        }
        catch (CryptographicException)
        {
            throw new PrivateDataException($"a sealed secret ({purpose}) does not open with key {keyId}: it was altered or belongs elsewhere");
        }
        return plaintext;
    }

    /// <summary>
    /// Rotation, step 1: a new key becomes current; the others stay so that what they sealed still opens.
    /// The file is replaced durably before this returns, so nothing is ever sealed with a key that a crash
    /// could lose.
    /// </summary>
    public string AddKey()
    {
        lock (_gate) return AddKeyLocked();
    }

    /// <summary>Rotation, last step (once everything is re-sealed): keeps only the current key. Returns those dropped.</summary>
    public IReadOnlyList<string> RetireAllButCurrent()
    {
        lock (_gate)
        {
            if (_current is null) return [];
            var retired = _keys.Keys.Where(k => k != _current).ToArray();
            if (retired.Length == 0) return retired;
            var kept = new Dictionary<string, byte[]>(StringComparer.Ordinal) { [_current] = _keys[_current] };
            Save(kept, _current);
            _keys = kept;
            return retired;
        }
    }

    private string AddKeyLocked()
    {
        string id;
        do id = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(6)); while (_keys.ContainsKey(id));
        var keys = new Dictionary<string, byte[]>(_keys, StringComparer.Ordinal) { [id] = RandomNumberGenerator.GetBytes(KeyBytes) };
        Save(keys, id);
        _keys = keys;
        _current = id;
        return id;
    }

    private void Save(Dictionary<string, byte[]> keys, string current)
    {
        var directory = Path.GetDirectoryName(FilePath)!;
        if (!Directory.Exists(directory))
            throw new PrivateDataException($"the directory of key file {FilePath} does not exist; create it or name another key file");
        var root = new JsonObject
        {
            ["format"] = Format,
            ["about"] = "Keys sealing the secrets of a scimsync data or state directory. Keep this file apart from that directory and back it up separately: without it the sealed secrets are lost.",
            ["current"] = current,
            ["keys"] = new JsonArray(keys.Select(k => (JsonNode)new JsonObject { ["id"] = k.Key, ["key"] = Convert.ToBase64String(k.Value) }).ToArray()),
        };
        PrivateFiles.WriteAtomically(FilePath, JsonSerializer.SerializeToUtf8Bytes(root, new JsonSerializerOptions { WriteIndented = true }));
    }

    private static byte[] Associated(string keyId, string purpose) => Encoding.UTF8.GetBytes(Prefix + keyId + ":" + purpose);

    private static (string KeyId, byte[] Payload) Parts(string sealedText)
    {
        if (!IsSealed(sealedText)) throw new ArgumentException("not a sealed value", nameof(sealedText));
        var rest = sealedText.AsSpan(Prefix.Length);
        var colon = rest.IndexOf(':');
        if (colon <= 0) throw new PrivateDataException("a sealed secret has no key id");
        try
        {
            return (rest[..colon].ToString(), Base64Url.DecodeFromChars(rest[(colon + 1)..]));
        }
        catch (FormatException)
        {
            throw new PrivateDataException("a sealed secret is not valid base64url");
        }
    }
}
