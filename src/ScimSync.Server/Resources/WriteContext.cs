namespace ScimSync.Server.Resources;

/// <summary>
/// Who is writing and under which transaction id: every journal entry of one request shares
/// <see cref="Txn"/> (RFC 9967 <c>txn</c>), and <see cref="Actor"/> is the token id.
/// </summary>
public sealed record WriteContext(string? Actor, string Txn)
{
    public static WriteContext New(string? actor) => new(actor, Guid.NewGuid().ToString("N"));
}
