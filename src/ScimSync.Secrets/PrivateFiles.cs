using System.Runtime.InteropServices;

namespace ScimSync.Secrets;

/// <summary>
/// The one rule for files that hold data or secrets (DESIGN.md invariant 9: "in files only the service can
/// read"): directories are created 0700 and files 0600, and a directory or file that group or others can
/// read or write is refused rather than used, so that a mistake (a copy with the wrong umask, a chmod -R)
/// stops the service with a clear message instead of leaving accounts and keys readable by every local user.
/// Execute alone on a directory (0710, 0711) is accepted: it lets others reach a name they already know,
/// and every file they could reach is itself checked.
/// </summary>
public static partial class PrivateFiles
{
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode Exposed = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    /// <summary>
    /// Creates <paramref name="directory"/> (and missing parents) 0700, or checks an existing one; then checks
    /// every file directly inside it (the database, its WAL and shared-memory files, key and lock files).
    /// Subdirectories such as operator schema files are the operator's and are not checked.
    /// </summary>
    /// <param name="what">How the message names it: "data directory", "state directory".</param>
    public static void EnsureDirectory(string directory, string what)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }
        if (!Directory.Exists(directory)) Directory.CreateDirectory(directory, DirectoryMode);
        var mode = File.GetUnixFileMode(directory);
        if ((mode & Exposed) != 0)
            throw new PrivateDataException($"{what} {directory} can be read or written by group or others (mode {Octal(mode)}); run `chmod -R go-rwx {directory}` (and consider who could read it meanwhile)");
        foreach (var file in Directory.EnumerateFiles(directory)) CheckFile(file);
    }

    /// <summary>Refuses a file group or others can read or write; a missing file is fine.</summary>
    public static void CheckFile(string path)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(path)) return;
        var mode = File.GetUnixFileMode(path);
        if ((mode & Exposed) != 0)
            throw new PrivateDataException($"{path} can be read or written by group or others (mode {Octal(mode)}); run `chmod go-rwx {path}`, or `chmod -R go-rwx` on its directory");
    }

    /// <summary>
    /// Creates an empty file 0600 unless it exists. SQLite gives a database's WAL and shared-memory files the
    /// database file's own mode, so creating the database this way before SQLite opens it keeps all three private
    /// whatever the process umask is.
    /// </summary>
    public static void CreateFile(string path)
    {
        var options = new FileStreamOptions { Mode = System.IO.FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = FileMode;
        using var _ = new FileStream(path, options);
    }

    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="content"/> so that after a crash or a power loss it
    /// holds either the old or the new content, never a mix or nothing: a 0600 temporary file beside it is
    /// written and flushed to disk, renamed over the file, and the directory is flushed so the rename itself
    /// is durable. A key file must be: data sealed with a key that was lost cannot be read again.
    /// </summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> content)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        var temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = FileMode;
            using (var f = new FileStream(temp, options))
            {
                f.Write(content);
                f.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        FlushDirectory(directory);
    }

    /// <summary>fsync(2) on a directory, which .NET does not offer: it makes a rename or a new name in it durable.</summary>
    private static void FlushDirectory(string directory)
    {
        if (OperatingSystem.IsWindows()) return;
        var fd = Open(directory, 0 /* O_RDONLY */);
        if (fd < 0) throw new IOException($"cannot open {directory} to flush it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Fsync(fd) != 0) throw new IOException($"fsync of {directory} failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8).PadLeft(4, '0');
}

/// <summary>
/// Data or keys are not private, or cannot be read with the keys at hand: the process must not start. The
/// message is one line meant for the operator, naming the path and what to do.
/// </summary>
public sealed class PrivateDataException(string message) : Exception(message);
