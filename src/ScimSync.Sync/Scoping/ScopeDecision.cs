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
/// <param name="Rule">
/// The setting that decided, as the configuration spells it: <c>scope.exclude</c>, <c>scope.also</c>, the
/// restriction that failed (<c>scope.kinds</c>), or every restriction passed (<c>scope.kinds + scope.filter</c>).
/// </param>
public sealed record ScopeDecision(bool InScope, ScopeBasis Basis, string Rule, string Reason)
{
    public static ScopeDecision NotAtSource { get; } = new(false, ScopeBasis.NotAtSource, "source", "not at the source (deleted, or never there)");
}
