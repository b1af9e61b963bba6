namespace ScimSync.Bench;

/// <summary>
/// The whole machine's CPU counters, from the first line of /proc/stat, in clock ticks (1/100 s): busy, total, and
/// steal (time the hypervisor gave to someone else while this VM wanted to run; on this Firecracker VM it moves a
/// benchmark's wall time by a fifth, so the benchmarks report it beside their figures).
/// </summary>
internal readonly record struct MachineCpu(long Busy, long Total, long Steal)
{
    public static MachineCpu Read()
    {
        // user nice system idle iowait irq softirq steal (guest time is already inside user).
        var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
        var total = f.Take(8).Sum();
        return new(total - f[3] - f[4], total, f[7]);
    }

    /// <summary>Steal between <paramref name="since"/> and this reading, in seconds of one core.</summary>
    public double StealSecondsSince(MachineCpu since) => (Steal - since.Steal) / 100.0;
}
