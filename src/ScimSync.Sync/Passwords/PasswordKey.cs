using System.Security.Cryptography;
using System.Text;
using ScimSync.Secrets;

namespace ScimSync.Sync.Passwords;

/// <summary>
/// The engine's key pair for passwords: the source seals every password to its public half (registered with the
/// engine's feed subscription), and only this engine, with the private half, can open one. The private key lives in
/// a private file (0600, in the state directory, checked like every file there) and is created on first use.
/// </summary>
public static class PasswordKey
{
    /// <summary>The key file of an engine: one alone, or the named <paramref name="instance"/> among engines sharing a state (each has its own subscription and key).</summary>
    public static string PathFor(string stateDirectory, string? instance) =>
        Path.Combine(stateDirectory, instance is null ? "password-key.pem" : $"password-key-{Sanitize(instance)}.pem");

    public static RSA LoadOrCreate(string stateDirectory, string? instance)
    {
        PrivateFiles.EnsureDirectory(stateDirectory, "state directory");
        var path = PathFor(stateDirectory, instance);
        var rsa = RSA.Create();
        if (File.Exists(path))
        {
            PrivateFiles.CheckFile(path);
            rsa.ImportFromPem(File.ReadAllText(path));
            if (rsa.KeySize < Events.PasswordEnvelope.MinKeyBits) throw new CryptographicException($"{path}: the key has {rsa.KeySize} bits, fewer than {Events.PasswordEnvelope.MinKeyBits}");
            return rsa;
        }
        rsa.KeySize = 3072;
        PrivateFiles.WriteAtomically(path, Encoding.ASCII.GetBytes(rsa.ExportPkcs8PrivateKeyPem()));
        return rsa;
    }

    private static string Sanitize(string name) => new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());
}
