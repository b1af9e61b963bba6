using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace ScimSync.Server.Hosting;

/// <summary>
/// One address of <c>--urls</c>, bound by the server itself rather than by ASP.NET's <c>--urls</c> handling:
/// https:// endpoints need the reloadable certificate (<see cref="PemCertificate"/>) on each handshake, and
/// Kestrel ignores --urls as soon as one endpoint is configured in code. Hosts follow Kestrel's rules:
/// <c>localhost</c> is both loopback addresses, an IP literal is that address, <c>*</c>, <c>+</c> or any other
/// name is every address.
/// </summary>
public sealed record ListenUrl(string Url, bool Https, IPAddress? Address, bool Localhost, int Port)
{
    /// <exception cref="FormatException">Not an http:// or https:// URL with a host and a port this process can use.</exception>
    public static ListenUrl Parse(string url)
    {
        var text = url.Trim().TrimEnd('/');
        var scheme = text.StartsWith("https://", StringComparison.OrdinalIgnoreCase) ? "https" : text.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? "http" : null;
        if (scheme is null) throw new FormatException($"\"{url}\" is not an http:// or https:// URL");
        // Uri refuses "*" and "+" as hosts: read them as the any-address they mean to Kestrel.
        var rest = text[(scheme.Length + 3)..];
        var wildcard = rest.StartsWith('*') || rest.StartsWith('+');
        if (!Uri.TryCreate(wildcard ? $"{scheme}://0.0.0.0{rest[1..]}" : text, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
            throw new FormatException($"\"{url}\" is not a valid URL");
        if (uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
            throw new FormatException($"\"{url}\" has a path, query or user: give only scheme, host and port (the SCIM root is always /scim/v2)");
        var https = scheme == "https";
        var port = uri.Port; // 80 or 443 when none is given
        if (uri.IsLoopback && uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
            return new ListenUrl(text, https, null, Localhost: true, port);
        var address = !wildcard && IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) ? ip : null;
        return new ListenUrl(text, https, address, Localhost: false, port);
    }

    /// <summary>Adds this endpoint to Kestrel; an https:// endpoint takes each connection's certificate from <paramref name="certificate"/>.</summary>
    public void Bind(KestrelServerOptions kestrel, PemCertificate? certificate)
    {
        if (Https && certificate is null) throw new InvalidOperationException($"{Url} needs a certificate (--tls-cert and --tls-key)");
        Action<ListenOptions> configure = Https
            ? listen => listen.UseHttps(new TlsHandshakeCallbackOptions { OnConnection = _ => ValueTask.FromResult(certificate!.ServerOptions()) })
            : _ => { };
        if (Localhost) kestrel.ListenLocalhost(Port, configure);
        else if (Address is null) kestrel.ListenAnyIP(Port, configure);
        else kestrel.Listen(Address, Port, configure);
    }
}

/// <summary>A reverse proxy the server believes X-Forwarded-* headers from: an address, or a network in CIDR form.</summary>
public static class TrustedProxy
{
    /// <exception cref="FormatException">Neither an IP address nor a network such as 10.0.0.0/8.</exception>
    public static System.Net.IPNetwork Parse(string text)
    {
        var t = text.Trim();
        if (t.Contains('/', StringComparison.Ordinal))
            return System.Net.IPNetwork.TryParse(t, out var network) ? network : throw new FormatException($"\"{text}\" is not a network (e.g. 10.0.0.0/8)");
        return IPAddress.TryParse(t, out var address)
            ? new System.Net.IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)
            : throw new FormatException($"\"{text}\" is not an IP address or network (a proxy is trusted by address, not by name)");
    }
}
