namespace ScimSync.Feed.Events;

/// <summary>
/// How much of a change a subscription receives (RFC 9967 §2.2): <c>:full</c> events carry the equivalent
/// SCIM command as <c>data</c>, <c>:notice</c> events only the changed attribute paths.
/// </summary>
public enum PayloadMode { Full, Notice }
