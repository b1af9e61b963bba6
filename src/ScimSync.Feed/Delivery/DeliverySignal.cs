using ScimSync.Store.Journal;

namespace ScimSync.Feed.Delivery;

/// <summary>Raised when fan-out has queued new SETs, so that long polls and pushers wake at once.</summary>
public sealed class DeliverySignal
{
    public ChangeSignal Signal { get; } = new();
}
