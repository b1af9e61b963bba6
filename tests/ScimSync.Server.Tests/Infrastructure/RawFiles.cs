using System.Runtime.Versioning;
using System.Text;

namespace ScimSync.Server.Tests.Infrastructure;

/// <summary>What is on disk, read the way an attacker with a copy of the files would: raw bytes and modes.</summary>
[UnsupportedOSPlatform("windows")]
public static class RawFiles
{
    /// <summary>The permission bits as octal text ("0600"), to compare and to show in a failure.</summary>
    public static string Mode(string path) => Convert.ToString((int)File.GetUnixFileMode(path), 8).PadLeft(4, '0');

    /// <summary>Files of <paramref name="directory"/> (not below) whose bytes contain <paramref name="needle"/>.</summary>
    public static IReadOnlyList<string> FilesContaining(string directory, byte[] needle) =>
        Directory.EnumerateFiles(directory).Where(f => File.ReadAllBytes(f).AsSpan().IndexOf(needle) >= 0).Select(Path.GetFileName).ToArray()!;

    public static IReadOnlyList<string> FilesContaining(string directory, string needle) => FilesContaining(directory, Encoding.UTF8.GetBytes(needle));

    /// <summary>A fresh directory under the temp directory, 0700 (the parent of data directories in tests).</summary>
    public static string NewRoot(string prefix)
    {
        var root = Path.Combine(Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return root;
    }
}
