using System.Runtime.Versioning;
using System.Text;
using ScimSync.Secrets;

namespace ScimSync.Server.Tests.Security;

/// <summary>The key file: sealing, binding to a purpose, rotation with old material readable until retired, modes.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class KeyRingTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "scimsync-keyring-" + Guid.NewGuid().ToString("N")[..10]);

    public KeyRingTests() => Directory.CreateDirectory(_root, PrivateFiles.DirectoryMode);

    private string KeyFile => Path.Combine(_root, "data.key");

    [Fact]
    public void A_key_file_is_created_0600_on_the_first_seal_only()
    {
        var ring = KeyRing.Load(KeyFile);
        Assert.False(File.Exists(KeyFile));
        Assert.Null(ring.CurrentKeyId);
        var sealedText = ring.Seal("s3cret", "test/1");
        Assert.True(File.Exists(KeyFile));
        Assert.Equal(PrivateFiles.FileMode, File.GetUnixFileMode(KeyFile));
        Assert.StartsWith(KeyRing.Prefix + ring.CurrentKeyId + ":", sealedText);
        Assert.DoesNotContain("s3cret", sealedText);
        Assert.Equal("s3cret", KeyRing.Load(KeyFile).UnsealText(sealedText, "test/1"));
    }

    [Fact]
    public void A_sealed_value_opens_only_for_its_purpose_and_only_unaltered()
    {
        var ring = KeyRing.Load(KeyFile);
        var sealedText = ring.Seal("s3cret", "subscriptions.signing_key/a");
        Assert.Throws<PrivateDataException>(() => ring.Unseal(sealedText, "subscriptions.signing_key/b"));
        var tampered = sealedText[..^2] + (sealedText[^2] == 'A' ? "B" : "A") + sealedText[^1];
        Assert.Throws<PrivateDataException>(() => ring.Unseal(tampered, "subscriptions.signing_key/a"));
        // Random nonces: the same secret never seals to the same text.
        Assert.NotEqual(sealedText, ring.Seal("s3cret", "subscriptions.signing_key/a"));
    }

    [Fact]
    public void During_a_rotation_old_and_new_keys_open_and_retiring_drops_only_the_old()
    {
        var ring = KeyRing.Load(KeyFile);
        var old = ring.Seal("one", "p");
        var oldKey = ring.CurrentKeyId!;
        var newKey = ring.AddKey();
        Assert.NotEqual(oldKey, newKey);
        // As a process that starts mid-rotation sees it: both keys, the new one current.
        var midway = KeyRing.Load(KeyFile);
        Assert.Equal(newKey, midway.CurrentKeyId);
        Assert.Equal("one", midway.UnsealText(old, "p"));
        var resealed = midway.Seal("one", "p");
        Assert.Equal(newKey, KeyRing.KeyIdOf(resealed));

        Assert.Equal([oldKey], ring.RetireAllButCurrent());
        var after = KeyRing.Load(KeyFile);
        Assert.Equal("one", after.UnsealText(resealed, "p"));
        var e = Assert.Throws<PrivateDataException>(() => after.Unseal(old, "p"));
        Assert.Contains(oldKey, e.Message);
        Assert.Contains(KeyFile, e.Message);
    }

    [Fact]
    public void A_key_file_open_to_others_or_inside_the_directory_it_protects_is_refused()
    {
        KeyRing.Load(KeyFile).Seal("x", "p");
        File.SetUnixFileMode(KeyFile, PrivateFiles.FileMode | UnixFileMode.GroupRead);
        Assert.Contains("chmod", Assert.Throws<PrivateDataException>(() => KeyRing.Load(KeyFile)).Message);
        File.SetUnixFileMode(KeyFile, PrivateFiles.FileMode);

        var data = Path.Combine(_root, "data");
        Assert.Throws<PrivateDataException>(() => KeyRing.ForDirectory(data, Path.Combine(data, "keys", "k")));
        // The default sits beside the directory, with or without a trailing separator.
        Assert.Equal(Path.Combine(_root, "data.key"), KeyRing.DefaultPathFor(data + "/"));
        Assert.Equal(Path.Combine(_root, "data.key"), KeyRing.ForDirectory(data + "/", null).FilePath);
    }

    [Fact]
    public void A_damaged_key_file_is_a_clear_error()
    {
        File.WriteAllText(KeyFile, "not json", Encoding.UTF8);
        File.SetUnixFileMode(KeyFile, PrivateFiles.FileMode);
        var e = Assert.Throws<PrivateDataException>(() => KeyRing.Load(KeyFile));
        Assert.Contains(KeyFile, e.Message);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
