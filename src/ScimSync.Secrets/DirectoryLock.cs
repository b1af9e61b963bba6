namespace ScimSync.Secrets;

/// <summary>
/// An advisory lock on a data or state directory (flock(2) on its <c>scimsync.lock</c> file, which .NET takes
/// for FileShare). Every process that opens the directory's store holds it shared; key rotation holds it
/// exclusively, because a running server seals new secrets with the key it loaded at start, and a rotation
/// that retired that key meanwhile would leave them unreadable. The lock goes with the process: a kill -9
/// releases it.
/// </summary>
public sealed class DirectoryLock : IDisposable
{
    public const string FileName = "scimsync.lock";

    private readonly FileStream _file;

    private DirectoryLock(FileStream file) => _file = file;

    public static DirectoryLock Shared(string directory) => Take(directory, exclusive: false);

    public static DirectoryLock Exclusive(string directory) => Take(directory, exclusive: true);

    private static DirectoryLock Take(string directory, bool exclusive)
    {
        var path = Path.Combine(directory, FileName);
        var options = new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate,
            Access = FileAccess.ReadWrite,
            Share = exclusive ? FileShare.None : FileShare.ReadWrite,
        };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = PrivateFiles.FileMode;
        try
        {
            return new DirectoryLock(new FileStream(path, options));
        }
        catch (IOException) when (File.Exists(path))
        {
            throw new PrivateDataException(exclusive
                ? $"{directory} is in use by another scimsync process (a running server or engine); stop it first"
                : $"{directory} is held exclusively by another scimsync process (a key rotation?); wait for it to finish");
        }
    }

    public void Dispose() => _file.Dispose();
}
