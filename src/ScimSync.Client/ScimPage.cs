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
}
