using System.Security.Cryptography;
using System.Text;

namespace ScimSync.Server.Security;

/// <summary>
/// User passwords (writeOnly, returned=never) are kept only as salted PBKDF2-SHA256 hashes
/// (RFC 7643 §4.1.1 "SHOULD be hashed"). Format: pbkdf2-sha256$iterations$salt$hash.
/// </summary>
/// <remarks>
/// The iteration count is the server's (<c>serve --password-hash-iterations</c>): 100,000 costs about 34 ms of one
/// core per password on the benchmark machine, so it alone caps a two-core source at about 50 password changes a
/// second. A deployment that pushes more must buy cores or choose a lower count (docs/passwords.md). Each stored
/// hash names its own count, so changing it never invalidates what is stored.
/// </remarks>
public static class PasswordHasher
{
    public const int DefaultIterations = 100_000;

    /// <summary>The range <c>--password-hash-iterations</c> accepts.</summary>
    public const int MinIterations = 1_000, MaxIterations = 10_000_000;

    public static string Hash(string password, int iterations = DefaultIterations)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, MinIterations);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(iterations, MaxIterations);
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password.Normalize(NormalizationForm.FormKC)), salt, iterations, HashAlgorithmName.SHA256, 32);
        return $"pbkdf2-sha256${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    public static bool Verify(string password, string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 4 || parts[0] != "pbkdf2-sha256" || !int.TryParse(parts[1], out var iterations)) return false;
        var salt = Convert.FromBase64String(parts[2]);
        var expected = Convert.FromBase64String(parts[3]);
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password.Normalize(NormalizationForm.FormKC)), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }
}
