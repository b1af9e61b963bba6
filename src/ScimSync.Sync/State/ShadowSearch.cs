namespace ScimSync.Sync.State;

/// <summary>Which accounts of a target's shadow a search keeps, by whether the engine manages them.</summary>
public enum ShadowOwnership
{
    Any,

    /// <summary>Linked to a source account: the engine manages it.</summary>
    Managed,

    /// <summary>Not linked: the engine leaves it alone (or reports it, by the target's unmatched policy).</summary>
    Unmanaged,
}

/// <summary>
/// One page of a target's shadow, searched in the state (an indexed query), never by loading the target: a
/// console page over 100,000 accounts reads a page and a count.
/// </summary>
/// <param name="Text">
/// Null or empty: every account. Otherwise a userName prefix (case-insensitive), an exact externalId, or, with an
/// <c>@</c>, an exact email address among the account's emails.
/// </param>
/// <param name="After">The userName (case-insensitive order) and target id of the last row of the previous page; null: the first page.</param>
/// <param name="Limit">Rows per page, 1..500.</param>
public sealed record ShadowSearch(string Target, string? Text = null, ShadowOwnership Ownership = ShadowOwnership.Any,
    (string UserName, string TargetId)? After = null, int Limit = 50);

/// <summary>One row of a shadow search: the account as the shadow last saw it, and the source account that owns it.</summary>
public sealed record ShadowRow(string TargetId, string UserName, string? ExternalId, bool Active, string? SourceId, DateTimeOffset Seen);

/// <summary>A page of a shadow search and how many accounts match it in all, counted up to <see cref="CountLimit"/>.</summary>
public sealed record ShadowPage(IReadOnlyList<ShadowRow> Rows, int Total)
{
    /// <summary>
    /// Matches are counted up to this many, so that every page costs the same however large the target: counting
    /// 100,000 index entries for each page was most of a page's time.
    /// </summary>
    public const int CountLimit = 10_000;

    /// <summary>More than <see cref="CountLimit"/> accounts match (then <see cref="Total"/> is the limit).</summary>
    public bool TotalIsAtLeast => Total >= CountLimit;

    /// <summary>Whether another page follows (ask again with <see cref="ShadowSearch.After"/> = the last row).</summary>
    public bool More { get; init; }
}
