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

    /// <summary>The groups a user directly belongs to, when they were loaded.</summary>
    public IReadOnlyList<GroupRef>? Groups { get; init; }

    public string? PasswordHash { get; init; }

    /// <summary>The weak ETag (RFC 7644 §3.14); also <c>meta.version</c>.</summary>
    public string ETag => FormatETag(Version);

    public static string FormatETag(long version) => "W/\"" + version.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\"";
}

/// <summary>One value of Group.members.</summary>
public sealed record MemberRef(string Value, string Type, string? Display);

/// <summary>One value of User.groups (direct membership).</summary>
public sealed record GroupRef(string Value, string? Display);

/// <summary>What a read should bring besides the resource's own data.</summary>
public sealed record LoadOptions(bool Members, bool Groups)
{
    public static readonly LoadOptions All = new(true, true);
    public static readonly LoadOptions None = new(false, false);
}
