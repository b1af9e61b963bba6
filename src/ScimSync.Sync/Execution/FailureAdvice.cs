namespace ScimSync.Sync.Execution;

/// <summary>
/// What an operator should do about a target's refusal, for the provisioning log: the known failures, each
/// with the setting or the rule to look at (as Entra ID's provisioning logs give a recommended action).
/// A failure not listed gets none rather than a guess.
/// </summary>
public static class FailureAdvice
{
    /// <summary>Longest answer kept from a target (its detail): a target's error page must not fill the state.</summary>
    public const int MaxDetail = 1000;

    /// <param name="status">The HTTP status, or null (or 0) when the target did not answer.</param>
    /// <param name="noAnswer">The call got no answer at all (refused, reset, timed out).</param>
    public static string? For(int? status, bool noAnswer = false) => status switch
    {
        401 or 403 => "check the target's credential (targets[].auth): the target refuses it, or it lacks the right to do this",
        404 => "the account was deleted at the target out of band: the next run or reconcile relinks or recreates it (policies.deleted)",
        409 => "the target already holds this value for another account (uniqueness): see the correlation rule (targets[].correlation) and the account it matches",
        429 => "the target's rate limit: lower targets[].limits.maxRequestsPerSecond (or concurrency)",
        400 => "the mapping produced a value the target refuses: check targets[].mapping for the attribute the answer names",
        >= 500 => "the target's health: it failed on its side (sync status shows whether it answers); the change is tried again",
        null or 0 when noAnswer => "the target's health: it did not answer (sync status shows since when); the change is tried again",
        _ => null,
    };

    /// <summary>
    /// A target's answer cut to <see cref="MaxDetail"/> characters (marked with "…"), with control and bidirectional
    /// formatting characters shown as '?': it is stored, then printed to terminals (the feed's receivers get the same rule).
    /// </summary>
    public static string? Clamp(string? detail)
    {
        if (detail is null) return null;
        var cut = detail.Length > MaxDetail;
        var span = cut ? detail.AsSpan(0, MaxDetail - 1) : detail.AsSpan();
        if (cut && span.Length > 0 && char.IsHighSurrogate(span[^1])) span = span[..^1];
        var b = new System.Text.StringBuilder(span.Length + 1);
        foreach (var c in span)
            b.Append(char.IsControl(c) || System.Globalization.CharUnicodeInfo.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format ? '?' : c);
        if (cut) b.Append('…');
        return b.ToString();
    }
}
