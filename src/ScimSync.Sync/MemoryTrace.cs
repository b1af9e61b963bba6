using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace ScimSync.Sync;

/// <summary>At Trace level: the managed heap and the process's resident memory at a step of a long run.</summary>
internal static class MemoryTrace
{
    public static void Log(ILogger log, string step)
    {
        if (!log.IsEnabled(LogLevel.Trace)) return;
        var info = GC.GetGCMemoryInfo();
        using var self = Process.GetCurrentProcess();
        SyncLog.Memory(log, step, GC.GetTotalMemory(false) / 1048576, info.HeapSizeBytes / 1048576, info.FragmentedBytes / 1048576, self.WorkingSet64 / 1048576, self.PeakWorkingSet64 / 1048576);
    }
}
