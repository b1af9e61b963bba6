namespace ScimSync.Sync.State;

/// <summary>How every state implementation seals the engine's secrets (<see cref="IStateSecrets"/>) with the key ring.</summary>
public static class StoredSecrets
{
    /// <summary>What a sealed value is bound to: its key, so that a value copied to another key does not open.</summary>
    public static string Purpose(string key) => "sync.secrets/" + key;
}
