using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ScimSync.Server.Hosting;

/// <summary>
/// The server's TLS certificate, read from PEM files (certificate with its chain, and private key) and
/// reloaded without a restart when either file changes: a renewal (certbot, cert-manager) replaces the files,
/// and every new connection then gets the new certificate; connections already open keep theirs. A change
/// that cannot be loaded (the certificate written before its key, a half-written file) leaves the previous
/// certificate in service, and the next change is tried again.
/// </summary>
public sealed partial class PemCertificate : IDisposable
{
    private readonly string _certificatePath;
    private readonly string _keyPath;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Timer _debounce;
    private SslStreamCertificateContext _context;
    private ILogger _logger = NullLogger.Instance;

    private PemCertificate(string certificatePath, string keyPath, SslStreamCertificateContext context)
    {
        _certificatePath = certificatePath;
        _keyPath = keyPath;
        _context = context;
        // Renewal tools write several files in a row: reload once they have been quiet for a moment.
        _debounce = new Timer(_ => Reload());
        foreach (var directory in new[] { Path.GetDirectoryName(certificatePath)!, Path.GetDirectoryName(keyPath)! }.Distinct(StringComparer.Ordinal))
        {
            // The whole directory: files are often replaced by a rename, or (Kubernetes) by swapping a symlink.
            var watcher = new FileSystemWatcher(directory) { NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime };
            watcher.Changed += (_, _) => Changed();
            watcher.Created += (_, _) => Changed();
            watcher.Renamed += (_, _) => Changed();
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
    }

    /// <summary>The certificate new connections get.</summary>
    public X509Certificate2 Current => Volatile.Read(ref _context).TargetCertificate;

    /// <exception cref="CertificateException">A file is missing or unreadable, the key does not match, or the certificate is not valid now.</exception>
    public static PemCertificate Load(string certificatePath, string keyPath)
    {
        var cert = Path.GetFullPath(certificatePath);
        var key = Path.GetFullPath(keyPath);
        return new PemCertificate(cert, key, Read(cert, key));
    }

    /// <summary>Where a later log goes (the application's logger exists only after the certificate was needed).</summary>
    public void UseLogger(ILogger logger) => _logger = logger;

    internal SslServerAuthenticationOptions ServerOptions() => new() { ServerCertificateContext = Volatile.Read(ref _context) };

    private static SslStreamCertificateContext Read(string certificatePath, string keyPath)
    {
        X509Certificate2 leaf;
        var chain = new X509Certificate2Collection();
        try
        {
            leaf = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            chain.ImportFromPemFile(certificatePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new CertificateException($"cannot use the TLS certificate {certificatePath} with key {keyPath}: {e.Message.TrimEnd('.')}");
        }
        var now = DateTime.Now;
        if (now < leaf.NotBefore || now > leaf.NotAfter)
            throw new CertificateException($"the TLS certificate {certificatePath} ({leaf.Subject}) is valid from {leaf.NotBefore:u} to {leaf.NotAfter:u}, not now");
        // The first certificate of the file is the leaf; the rest is the chain sent with it.
        var intermediates = new X509Certificate2Collection(chain.Skip(1).ToArray());
        return SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
    }

    private void Changed() => _debounce.Change(TimeSpan.FromMilliseconds(200), Timeout.InfiniteTimeSpan);

    private void Reload()
    {
        SslStreamCertificateContext next;
        try
        {
            next = Read(_certificatePath, _keyPath);
        }
        catch (CertificateException e)
        {
            LogReloadFailed(_logger, e.Message, Current.Thumbprint);
            return;
        }
        if (next.TargetCertificate.Thumbprint == Current.Thumbprint) return;
        Volatile.Write(ref _context, next);
        LogReloaded(_logger, next.TargetCertificate.Subject, next.TargetCertificate.Thumbprint, next.TargetCertificate.NotAfter);
    }

    public void Dispose()
    {
        foreach (var w in _watchers) w.Dispose();
        _debounce.Dispose();
    }

    [LoggerMessage(EventId = 1100, Level = LogLevel.Information, Message = "TLS certificate reloaded: {Subject}, thumbprint {Thumbprint}, valid until {NotAfter}")]
    private static partial void LogReloaded(ILogger logger, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "TLS certificate files changed but cannot be used ({Problem}); still serving thumbprint {Thumbprint}")]
    private static partial void LogReloadFailed(ILogger logger, string problem, string thumbprint);
}

/// <summary>A certificate or key that cannot be served: the server does not start (the CLI exits 3).</summary>
public sealed class CertificateException(string message) : Exception(message);
