namespace ScimSync.Events;

/// <summary>
/// How the change journal looks on a message broker (docs/nats.md): the subjects, and the headers that let any
/// consumer find its place and notice a hole. Written once here because the server's relay writes them and the
/// sync engine (and every third-party consumer, from the docs) reads them.
/// </summary>
public static class EventStream
{
    public const string DefaultStream = "SCIMSYNC";
    public const string DefaultSubjectPrefix = "scimsync.events";

    /// <summary>The SET's <c>aud</c>: what a consumer names when it validates a relayed SET.</summary>
    public const string Audience = "scimsync-stream";

    /// <summary>The change's journal position: the same number list responses report (<c>journalPosition</c>).</summary>
    public const string PositionHeader = "ScimSync-Journal-Position";

    /// <summary>
    /// The journal position the stream is complete from: every journal entry after it and before this message's own
    /// is not in the journal (never was, or never will be), so a consumer that has applied everything up to it
    /// misses nothing by applying this message. Normally the previous message's position; larger when the journal
    /// lost entries before the relay published them (compacted past a long NATS outage), which a consumer reads as
    /// a hole it must resnapshot across.
    /// </summary>
    public const string PreviousHeader = "ScimSync-Previous-Position";

    public const string Urgent = "urgent", Routine = "routine";

    /// <summary>
    /// <c>PREFIX.ResourceType.urgent|routine</c>. A character NATS reserves in subjects (".", "*", "&gt;", white
    /// space) in a custom resource type's name becomes "_", so one name can never spill into two tokens.
    /// </summary>
    public static string Subject(string prefix, string resourceType, bool urgent)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        ArgumentException.ThrowIfNullOrWhiteSpace(resourceType);
        var token = string.Create(resourceType.Length, resourceType, (span, name) =>
        {
            for (var i = 0; i < name.Length; i++)
                span[i] = name[i] is '.' or '*' or '>' || char.IsWhiteSpace(name[i]) || char.IsControl(name[i]) ? '_' : name[i];
        });
        return $"{prefix}.{token}.{(urgent ? Urgent : Routine)}";
    }

    /// <summary>Every subject under <paramref name="prefix"/>: the stream's subject filter.</summary>
    public static string All(string prefix) => prefix + ".>";

    /// <summary>The message id JetStream deduplicates by (Nats-Msg-Id), and the SET's jti: the position in decimal.</summary>
    public static string MessageId(long position) => position.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A header's number, or null when it is missing or not a non-negative integer.</summary>
    public static long? ReadPosition(string? header) =>
        long.TryParse(header, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var p) ? p : null;
}
