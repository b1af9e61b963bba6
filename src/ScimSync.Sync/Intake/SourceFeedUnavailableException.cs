namespace ScimSync.Sync.Intake;

/// <summary>The configuration asks for the source's event feed, and the source or its credential cannot give it.</summary>
public sealed class SourceFeedUnavailableException : Exception
{
    public SourceFeedUnavailableException()
    {
    }

    public SourceFeedUnavailableException(string message)
        : base(message)
    {
    }

    public SourceFeedUnavailableException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
