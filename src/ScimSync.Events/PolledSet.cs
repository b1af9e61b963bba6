namespace ScimSync.Events;

/// <summary>One SET of a poll's answer, under the jti it is acknowledged by.</summary>
public sealed record PolledSet(string Jti, string Token)
{
    /// <summary>
    /// The SET validated (<see cref="SetEncoder.Receive"/>) and read; throws <see cref="SetValidationException"/>,
    /// naming the jti, for one that is invalid or filed under another SET's jti (a replayed SET would otherwise
    /// acknowledge, and so lose, another).
    /// </summary>
    public ReceivedSet Receive(SigningKey key, string? issuer, string audience)
    {
        ReceivedSet set;
        try
        {
            set = SetEncoder.Receive(Token, key, issuer, audience);
        }
        catch (SetValidationException e)
        {
            throw new SetValidationException(e.Err, $"SET {Jti}: {e.Message}");
        }
        if (set.Jti != Jti) throw new SetValidationException("invalid_request", $"SET {Jti} carries the jti {set.Jti}");
        return set;
    }
}
