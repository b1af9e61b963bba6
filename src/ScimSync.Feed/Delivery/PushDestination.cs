using System.Net;
using System.Net.Sockets;

namespace ScimSync.Feed.Delivery;

/// <summary>
/// The SSRF guard for push delivery, in two checks that must both pass:
/// <list type="number">
/// <item>By name, when a subscription is created and before every round: the push URL must match an
/// allow-list entry by scheme, host and port (parsed, never by string prefix, so
/// "http://127.0.0.1:80@evil.example" cannot pass as loopback). URLs with user information are refused
/// outright (RFC 7644 §7.1).</item>
/// <item>By address, at connect time (<see cref="ConnectAsync"/>): the address actually connected to must be a
/// public one, or be named by an allow-list entry whose host is that IP address. So an allowed name that
/// resolves (or is re-pointed, DNS rebinding) to loopback, a private network or a link-local address such as
/// the cloud metadata service is refused unless the operator allowed that address as well.</item>
/// </list>
/// An entry "http://127.0.0.1:*" therefore allows URLs naming 127.0.0.1 and connections to 127.0.0.1; a
/// URL naming "localhost" needs both "http://localhost:*" (its name) and "http://127.0.0.1:*" (its address).
/// </summary>
public static class PushDestination
{
    public static bool IsAllowed(string url, IReadOnlyList<string> allowList, out string reason)
    {
        reason = "";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
        {
            reason = "pushUrl must be an absolute http(s) URL";
            return false;
        }
        if (u.UserInfo.Length > 0)
        {
            reason = "pushUrl must not contain user information";
            return false;
        }
        foreach (var a in Entries(allowList))
        {
            if (!a.Uri.Scheme.Equals(u.Scheme, StringComparison.OrdinalIgnoreCase)) continue;
            if (!a.Uri.IdnHost.Equals(u.IdnHost, StringComparison.OrdinalIgnoreCase)) continue;
            if (!a.AnyPort && a.Uri.Port != u.Port) continue;
            return true;
        }
        reason = allowList.Count == 0
            ? "push delivery is disabled: start the server with --push-allow to name permitted destinations"
            : $"{u.Scheme}://{u.Authority} is not in the push allow-list";
        return false;
    }

    /// <summary>
    /// Whether a connection for <paramref name="scheme"/> to <paramref name="address"/>:<paramref name="port"/>
    /// is allowed: a public address, or one an allow-list entry names by IP (with its scheme and port).
    /// </summary>
    public static bool IsAllowedAddress(string scheme, IPAddress address, int port, IReadOnlyList<string> allowList)
    {
        var a = Canonical(address);
        if (IsPublic(a)) return true;
        foreach (var entry in Entries(allowList))
        {
            if (entry.Uri.HostNameType is not (UriHostNameType.IPv4 or UriHostNameType.IPv6)) continue;
            if (!entry.Uri.Scheme.Equals(scheme, StringComparison.OrdinalIgnoreCase)) continue;
            if (!entry.AnyPort && entry.Uri.Port != port) continue;
            if (IPAddress.TryParse(entry.Uri.Host.Trim('[', ']'), out var allowed) && Canonical(allowed).Equals(a)) return true;
        }
        return false;
    }

    /// <summary>
    /// The push client's ConnectCallback: resolves the host itself, keeps only allowed addresses, and connects
    /// to the first that answers. Checking the address that is connected to, in the same step, leaves no
    /// window between a check and a second lookup for DNS rebinding. Throws <see cref="PushRefusedException"/>
    /// when no resolved address is allowed.
    /// </summary>
    public static async ValueTask<Stream> ConnectAsync(string scheme, DnsEndPoint endpoint, IReadOnlyList<string> allowList, CancellationToken ct)
    {
        var addresses = IPAddress.TryParse(endpoint.Host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endpoint.Host, ct).ConfigureAwait(false);
        var allowed = addresses.Where(a => IsAllowedAddress(scheme, a, endpoint.Port, allowList)).ToArray();
        if (allowed.Length == 0)
            throw new PushRefusedException(
                $"{endpoint.Host} resolved to {string.Join(", ", addresses.Select(a => a.ToString()))}, not a public address nor one the push allow-list names");
        SocketException? last = null;
        foreach (var address in allowed)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endpoint.Port), ct).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last!;
    }

    /// <summary>
    /// Not loopback, private, shared (CGNAT), link-local, unique-local, multicast, documentation or otherwise
    /// special-purpose (IANA registries), nor an IPv4 address of those kinds inside IPv6.
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        var a = Canonical(address);
        if (a.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = a.GetAddressBytes();
            return !(b[0] is 0 or 10 or 127 or >= 224
                || b[0] == 100 && b[1] >= 64 && b[1] < 128           // 100.64.0.0/10 shared address space
                || b[0] == 169 && b[1] == 254                        // link-local, cloud metadata
                || b[0] == 172 && b[1] >= 16 && b[1] < 32            // 172.16.0.0/12
                || b[0] == 192 && b[1] == 168                        // 192.168.0.0/16
                || b[0] == 192 && b[1] == 0 && b[2] is 0 or 2        // IETF protocol assignments, TEST-NET-1
                || b[0] == 198 && b[1] is 18 or 19                   // benchmarking
                || b[0] == 198 && b[1] == 51 && b[2] == 100          // TEST-NET-2
                || b[0] == 203 && b[1] == 0 && b[2] == 113);         // TEST-NET-3
        }
        if (a.AddressFamily != AddressFamily.InterNetworkV6) return false;
        if (IPAddress.IPv6Loopback.Equals(a) || IPAddress.IPv6Any.Equals(a)) return false;
        if (a.IsIPv6LinkLocal || a.IsIPv6SiteLocal || a.IsIPv6UniqueLocal || a.IsIPv6Multicast) return false;
        var v6 = a.GetAddressBytes();
        // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last four bytes.
        if (v6[0] == 0 && v6[1] == 0x64 && v6[2] == 0xff && v6[3] == 0x9b && v6.AsSpan(4, 8).IndexOfAnyExcept((byte)0) < 0)
            return IsPublic(new IPAddress(v6.AsSpan(12, 4)));
        // IPv4-compatible (::a.b.c.d, deprecated) and the rest of ::/8, 100::/64 (discard), 2001:db8::/32 (documentation).
        if (v6[0] == 0) return false;
        if (v6[0] == 1 && v6[1] == 0 && v6.AsSpan(2, 6).IndexOfAnyExcept((byte)0) < 0) return false;
        if (v6[0] == 0x20 && v6[1] == 0x01 && v6[2] == 0x0d && v6[3] == 0xb8) return false;
        return true;
    }

    // An IPv4 address written as IPv6 (::ffff:a.b.c.d) is that IPv4 address.
    private static IPAddress Canonical(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private static IEnumerable<(Uri Uri, bool AnyPort)> Entries(IReadOnlyList<string> allowList)
    {
        foreach (var entry in allowList)
        {
            var anyPort = entry.EndsWith(":*", StringComparison.Ordinal);
            if (Uri.TryCreate(anyPort ? entry[..^2] : entry, UriKind.Absolute, out var a)) yield return (a, anyPort);
        }
    }
}

/// <summary>A push destination the allow-list refuses (by name or by the address it resolves to).</summary>
public sealed class PushRefusedException(string message) : Exception(message);
