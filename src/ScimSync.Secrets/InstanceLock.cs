namespace ScimSync.Secrets;

/// <summary>
/// One running owner per directory: a server on its data directory, the sync engine on its state directory.
/// It is a second lock beside <see cref="DirectoryLock"/> because the two rules differ: many processes may
/// open a directory's store at once (a server, and <c>scimsync token list</c> beside it), each holding
/// <c>scimsync.lock</c> shared, which key rotation takes exclusively; but only one of them may own the
/// directory. The owner holds <c>scimsync.instance</c> exclusively (flock(2), released by the kernel when the
/// process ends, kill -9 included) and writes who it is into <c>scimsync.owner</c>, for the message a second
/// owner gets: the lock file itself cannot be read by others while it is held (.NET takes flock on open).
/// </summary>
public sealed class InstanceLock : IDisposable
{
    public const string FileName = "scimsync.instance";
    public const string OwnerFileName = "scimsync.owner";

    private readonly FileStream _file;
    private readonly string _ownerPath;

    private InstanceLock(FileStream file, string ownerPath)
    {
        _file = file;
        _ownerPath = ownerPath;
    }

    /// <param name="directory">An existing directory (the caller makes it private first).</param>
    /// <param name="owner">Who takes it, for the message a second owner gets (e.g. "scimsync serve").</param>
    /// <exception cref="DirectoryInUseException">Another process owns the directory.</exception>
    public static InstanceLock Take(string directory, string owner)
    {
        var path = Path.Combine(directory, FileName);
        var ownerPath = Path.Combine(directory, OwnerFileName);
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = PrivateFiles.FileMode;
        FileStream file;
        try
        {
            file = new FileStream(path, options);
        }
        catch (IOException) when (File.Exists(path))
        {
            var who = "another scimsync process";
            try
            {
                if (File.ReadAllText(ownerPath).Trim() is { Length: > 0 } text) who = text;
            }
            catch (IOException)
            {
                // Written right after the lock is taken: a start racing this one may not have written it yet.
            }
            throw new DirectoryInUseException($"{directory} is in use by {who}; one process per directory: stop it first, or give this one its own directory");
        }
        PrivateFiles.WriteAtomically(ownerPath, System.Text.Encoding.UTF8.GetBytes($"{owner} (pid {Environment.ProcessId}, since {DateTimeOffset.UtcNow:u})\n"));
        return new InstanceLock(file, ownerPath);
    }

    public void Dispose()
    {
        // The owner file goes first: deleted after the lock, it could take a new owner's file with it.
        try
        {
            File.Delete(_ownerPath);
        }
        catch (IOException)
        {
        }
        _file.Dispose();
    }
}

/// <summary>A directory another process owns (<see cref="InstanceLock"/>): nothing was started.</summary>
public sealed class DirectoryInUseException(string message) : Exception(message);
