using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using ScimSync.Sync.Configuration;

namespace ScimSync.OperatorConsole;

/// <summary>
/// Who a console token belongs to. Every configured token is compared, in constant time, whatever matched
/// before: neither the answer's time nor its content says how much of a token was right.
/// </summary>
public sealed class ConsoleSignIn(ConsoleConfig config)
{
    public const string RoleClaim = ClaimTypes.Role;

    // Hashes of equal length: FixedTimeEquals compares lengths first, and the hash hides the token's length too.
    private readonly (ConsolePerson Person, byte[] Hash)[] _people = config.People.Select(p => (p, Hash(p.Token))).ToArray();

    public ConsolePerson? Find(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 1024) return null;
        var hash = Hash(token);
        ConsolePerson? found = null;
        foreach (var (person, expected) in _people)
            if (CryptographicOperations.FixedTimeEquals(hash, expected)) found = person;
        return found;
    }

    public static ClaimsPrincipal Principal(ConsolePerson person) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.Name, person.Name), new Claim(RoleClaim, person.Role.ToString().ToLowerInvariant())], ConsoleHosting.Scheme));

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));
}
