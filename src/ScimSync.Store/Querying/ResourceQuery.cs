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

/// <summary>
/// What answering a query costs a store, told in SCIM terms so that the server can apply its limits without
/// knowing the database (<see cref="IResourceStore.Cost"/>).
/// </summary>
/// <param name="UnindexedTerms">
/// Filter terms that no index answers and that the store evaluates by reading each candidate resource
/// (its stored document, or a group's member rows): <c>title co "x"</c>, <c>emails[type eq "work"]</c>.
/// Terms on indexed attributes, even with an operator that cannot use the index (<c>userName co "x"</c>),
/// compare one column and do not count.
/// </param>
/// <param name="Scans">
/// The query visits every resource of a type: no index narrows its filter, or it sorts everything the
/// filter leaves. A query without filter or sort reads only its page.
/// </param>
public sealed record QueryCost(int UnindexedTerms, bool Scans);
