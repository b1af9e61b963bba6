namespace ScimSync.Events;

/// <summary>Event type URIs of RFC 9967 §2.4 (prefix urn:ietf:params:scim:event:).</summary>
public static class EventUris
{
    public const string Prefix = "urn:ietf:params:scim:event:";
    public const string FeedAdd = Prefix + "feed:add";
    public const string FeedRemove = Prefix + "feed:remove";
    public const string CreateFull = Prefix + "prov:create:full";
    public const string CreateNotice = Prefix + "prov:create:notice";
    public const string PatchFull = Prefix + "prov:patch:full";
    public const string PatchNotice = Prefix + "prov:patch:notice";
    public const string PutFull = Prefix + "prov:put:full";
    public const string PutNotice = Prefix + "prov:put:notice";
    public const string Delete = Prefix + "prov:delete";
    public const string Activate = Prefix + "prov:activate";
    public const string Deactivate = Prefix + "prov:deactivate";

    /// <summary>
    /// Every event this feed sends, as its discovery document advertises them. URIs compare exactly
    /// (RFC 8417 §2.2 names events by URI): a receiver that matched by suffix would take
    /// "urn:example:prov:delete" for a deletion.
    /// </summary>
    public static IReadOnlyList<string> All { get; } =
        [FeedAdd, FeedRemove, CreateFull, CreateNotice, PatchFull, PatchNotice, PutFull, PutNotice, Delete, Activate, Deactivate];

    /// <summary>The <c>:full</c> events, whose payload carries <c>data</c> (RFC 9967 §2.2).</summary>
    public static bool IsFull(string uri) => uri is CreateFull or PatchFull or PutFull;

    /// <summary>The <c>:notice</c> events, whose payload carries <c>attributes</c> (RFC 9967 §2.2).</summary>
    public static bool IsNotice(string uri) => uri is CreateNotice or PatchNotice or PutNotice;
}
