namespace ScimSync.Feed.Events;

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
}
