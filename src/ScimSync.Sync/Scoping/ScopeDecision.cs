namespace ScimSync.Sync.Scoping;

/// <summary>The setting that decided whether an account is in scope (<see cref="ScopeDecision.Rule"/>).</summary>
public enum ScopeBasis
{
    /// <summary>Out: builtin and service accounts are never provisioned.</summary>
    ProtectedKind,

    /// <summary>Out: named in <c>exclude</c>.</summary>
    Exclude,

    /// <summary>In: named in <c>also</c>.</summary>
    Also,

    /// <summary>Out: <c>only</c> is set and does not name it.</summary>
    Only,

    /// <summary>Out: its kind is not in <c>kinds</c>.</summary>
    Kinds,

    /// <summary>Out: it does not match <c>filter</c>.</summary>
    Filter,

    /// <summary>Out: it is a member of none of <c>groups</c>.</summary>
    Groups,

    /// <summary>In: it passes every restriction that is set.</summary>
    Restrictions,

    /// <summary>In: the target sets no restriction, so everyone (but builtin and service accounts) is in scope.</summary>
    Everyone,

    /// <summary>Out: the account is not at the source (any more).</summary>
    NotAtSource,
}

/// <summary>
/// Whether one account is in a target's scope, the setting that decided it, and a sentence a person reads
/// ("kind contractor is not in scope.kinds [employee]"). What <c>plan --explain</c>, <c>run --user</c> and
/// the per-person views print: the decision as data, made by the same code the planner uses.
/// </summary>
public sealed record ScopeDecision(bool InScope, ScopeBasis Basis, string Reason)
{
    /// <summary>The setting's name as the configuration spells it: <c>scope.kinds</c>, <c>scope.also</c>, <c>builtin/service</c>.</summary>
    public string Rule => Basis switch
    {
        ScopeBasis.ProtectedKind => "protected kind",
        ScopeBasis.Restrictions => "scope restrictions",
        ScopeBasis.Everyone => "no scope restriction",
        ScopeBasis.NotAtSource => "source",
        _ => "scope." + Basis.ToString().ToLowerInvariant(),
    };

    public static ScopeDecision NotAtSource { get; } = new(false, ScopeBasis.NotAtSource, "not at the source (deleted, or never there)");
}
