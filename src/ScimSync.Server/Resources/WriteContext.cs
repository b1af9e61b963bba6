namespace ScimSync.Server.Resources;

/// <summary>
/// Who is writing and under which transaction id: every journal entry of one request shares
/// <see cref="Txn"/> (RFC 9967 <c>txn</c>), <see cref="Actor"/> is the token id and <see cref="Writer"/> its name.
/// </summary>
public sealed record WriteContext(string? Actor, string Txn)
{
    /// <summary>The name of the credential that writes (<see cref="Security.ScimCaller.Name"/>), journaled with each change.</summary>
    public string? Writer { get; init; }

    public static WriteContext New(string? actor, string? writer = null) => new(actor, Guid.NewGuid().ToString("N")) { Writer = writer };
}
