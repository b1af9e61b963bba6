using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using ScimSync.Store.Resources;

namespace ScimSync.Store.Querying;

/// <summary>
/// A list/search request in store terms. <see cref="Filters"/> holds one bound filter per resource type
/// queried (one entry for /Users, several for a root query); a null filter means "all of that type".
/// </summary>
public sealed record ResourceQuery(
    IReadOnlyList<TypeFilter> Filters,
    SortSpec? Sort,
    PageRequest Page,
    LoadOptions Load);

public sealed record TypeFilter(ResourceTypeDefinition ResourceType, BoundFilter? Filter, ResolvedAttribute? SortAttribute);

public sealed record SortSpec(bool Descending);

/// <summary>
/// Index paging (1-based <see cref="StartIndex"/>) or keyset paging after <see cref="AfterSeq"/> (cursor
/// walks in default order). <see cref="Count"/> of 0 asks for totals only.
/// </summary>
public sealed record PageRequest(int StartIndex, int Count, long? AfterSeq = null);

/// <param name="JournalPosition">
/// The journal position this page is consistent with: every change up to it is reflected, none after it
/// (read in the same database snapshot as the page).
/// </param>
public sealed record QueryPage(IReadOnlyList<StoredResource> Resources, int TotalResults, bool HasMore, long JournalPosition);
