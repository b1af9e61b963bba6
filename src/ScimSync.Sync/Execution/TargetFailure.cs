using ScimSync.Client;

namespace ScimSync.Sync.Execution;

/// <summary>
/// The one rule for what counts as a target (or source) failing, as opposed to a bug: an error answer, no
/// answer, a timeout. Such a failure fails that target alone and is reported by its message; anything else
/// is reported with its type (and logged with its stack) so that it gets looked at.
/// </summary>
public static class TargetFailure
{
    public static bool IsExpected(Exception e) => e is ScimClientException or HttpRequestException or TimeoutException or TaskCanceledException;
}
