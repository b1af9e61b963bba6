namespace ScimSync.Store.Resources;

/// <summary>
/// A resource as the store holds it. <see cref="Data"/> is the canonical JSON without the attributes the
/// store manages itself (id, meta, password, group members, user groups), so that a default response can be
/// written from it without parsing.
/// </summary>
public sealed record StoredResource(
    long Seq,
    string Id,
    string ResourceType,
    string Data,
    DateTimeOffset Created,
    DateTimeOffset LastModified,
    long Version)
{
    /// <summary>Group members, when they were loaded.</summary>
    public IReadOnlyList<MemberRef>? Members { get; init; }

    /// <summary>The groups a user belongs to, directly or through nested groups, when they were loaded.</summary>
    public IReadOnlyList<GroupRef>? Groups { get; init; }

    public string? PasswordHash { get; init; }

    /// <summary>The weak ETag (RFC 7644 §3.14); also <c>meta.version</c>.</summary>
    public string ETag => FormatETag(Version);

    public static string FormatETag(long version) => "W/\"" + version.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\"";
}

/// <summary>One value of Group.members.</summary>
public sealed record MemberRef(string Value, string Type, string? Display);

/// <summary>
/// One value of User.groups: a group the user is a member of (direct) or reaches through groups that are members of
/// other groups (indirect; see <see cref="ScimSync.Protocol.Resources.GroupNesting"/>). A group reached both ways is direct.
/// </summary>
public sealed record GroupRef(string Value, string? Display, bool Indirect = false)
{
    /// <summary>RFC 7643 §4.1.2's "type" of the membership.</summary>
    public string Type => Indirect ? "indirect" : "direct";
}

/// <summary>What a read should bring besides the resource's own data.</summary>
public sealed record LoadOptions(bool Members, bool Groups)
{
    public static readonly LoadOptions All = new(true, true);
    public static readonly LoadOptions None = new(false, false);
}
