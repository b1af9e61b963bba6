using System.Text.Json.Nodes;

namespace ScimSync.Client;

/// <summary>One page of a list walk.</summary>
/// <param name="TotalResults">As the service provider reported it for this page (optional with cursors).</param>
/// <param name="JournalPosition">The "ScimSync-Journal-Position" header, sent only by ScimSync servers.</param>
public sealed record ScimPage(IReadOnlyList<JsonObject> Resources, int? TotalResults, long? JournalPosition);

/// <summary>Query parameters of a list (RFC 7644 §3.4.2). Paging is the client's business.</summary>
public sealed record ListOptions
{
    public string? Filter { get; init; }
    public string? Attributes { get; init; }
    public string? ExcludedAttributes { get; init; }
    /// <summary>Wanted page size; capped by the operator's and the service provider's maximum.</summary>
    public int? PageSize { get; init; }
    public string? SortBy { get; init; }

    /// <summary>
    /// For a walk read to its end: ask for the next cursor page as soon as this one names it, so that the provider
    /// renders it while the caller works through this one. Never more than one request in flight; but a caller
    /// that stops early (a lookup that found what it wanted) would have asked for a page it does not read.
    /// </summary>
    public bool ReadAhead { get; init; }
}
