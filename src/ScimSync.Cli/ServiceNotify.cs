using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;

namespace ScimSync.Cli;

/// <summary>
/// The service manager's notify protocol for <c>serve</c> (the <c>Type=notify</c> units in deploy/systemd): READY=1
/// once every address is bound, STOPPING=1 when a stop begins. Sent whenever NOTIFY_SOCKET is set, as sd_notify(3)
/// does. Not through the host's UseSystemd: that one speaks only when systemd is the direct parent process, so a
/// unit whose ExecStart goes through a wrapper (a shell, <c>dotnet scimsync.dll</c> under another launcher) would never
/// report ready and be killed at TimeoutStartSec. <c>sync watch</c> sends the same through its stop handler.
/// </summary>
internal static class ServiceNotify
{
    /// <summary>Call once the server listens; a stop already under way is reported at once.</summary>
    public static void Started(IHostApplicationLifetime lifetime)
    {
        var notifier = new SystemdNotifier();
        if (!notifier.IsEnabled) return;
        notifier.Notify(ServiceState.Ready);
        lifetime.ApplicationStopping.Register(() => notifier.Notify(ServiceState.Stopping));
    }
}
