namespace ScimSync.Client;

/// <summary>
/// What a whole list walk (<see cref="ScimClient.ListAsync(string, ListOptions, ListWalk?, CancellationToken)"/>)
/// found out about itself, filled in as it goes. A walk that throws never finished; one that finished can
/// still be <see cref="Complete"/> = false when what the service provider returned does not add up (the
/// same id twice, a short page in the middle, fewer resources than it said it had). A caller must not read
/// an incomplete walk as "these resources are gone".
/// </summary>
public sealed class ListWalk
{
    private readonly List<string> _irregularities = [];

    /// <summary>Pages received, the empty page that ended an index walk included.</summary>
    public int Pages { get; internal set; }

    /// <summary>Distinct resources (by id) delivered.</summary>
    public long Resources { get; internal set; }

    /// <summary>"cursor" or "index": how the walk ended up paging.</summary>
    public string Paging { get; internal set; } = "index";

    /// <summary>The largest page the service provider returned: its page size in practice, whatever was asked.</summary>
    public int LargestPage { get; internal set; }

    /// <summary>The walk reached its end by the paging rules (no next cursor; an empty or short last page).</summary>
    public bool Finished { get; internal set; }

    /// <summary>Why the result cannot be trusted to hold everything, in words for an operator.</summary>
    public IReadOnlyList<string> Irregularities => _irregularities;

    public bool Complete => Finished && _irregularities.Count == 0;

    internal void Irregular(string what)
    {
        // A provider that misbehaves on every page must not grow this without bound.
        if (_irregularities.Count < 20) _irregularities.Add(what);
    }
}
