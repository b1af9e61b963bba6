using System.Text;
using System.Text.Json.Nodes;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using ScimSync.Events;

namespace ScimSync.Server.Tests.Nats;

/// <summary>One message of the relayed stream as a consumer sees it.</summary>
public sealed record RelayedMessage(ulong Sequence, string Subject, long Position, long Previous, string? MsgId, string Set)
{
    /// <summary>The SET's claims (unsigned: the payload is the middle part).</summary>
    public JsonObject Claims => JsonNode.Parse(Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(Set.Split('.')[1])))!.AsObject();
}

/// <summary>Reads the relayed stream the way a third-party consumer would: by stream sequence, headers and all.</summary>
public sealed class RelayedStream(string url, string stream = EventStream.DefaultStream) : IAsyncDisposable
{
    private readonly NatsConnection _nats = new(NatsOpts.Default with { Url = url });

    public NatsJSContext JetStream => new(_nats);

    public async Task<IReadOnlyList<RelayedMessage>> ReadAllAsync()
    {
        INatsJSStream s;
        try
        {
            s = await JetStream.GetStreamAsync(stream);
        }
        catch (NatsJSApiException e) when (e.Error.Code == 404)
        {
            return [];
        }
        var result = new List<RelayedMessage>();
        for (var seq = s.Info.State.FirstSeq; seq <= s.Info.State.LastSeq && s.Info.State.Messages > 0; seq++)
        {
            var m = await s.GetDirectAsync(new StreamMsgGetRequest { Seq = seq }, NatsRawSerializer<byte[]>.Default);
            // A direct get answers on an inbox: the subject the message was published to is in Nats-Subject.
            result.Add(new RelayedMessage(seq, m.Headers!["Nats-Subject"].ToString(), long.Parse(m.Headers![EventStream.PositionHeader].ToString(), System.Globalization.CultureInfo.InvariantCulture),
                long.Parse(m.Headers![EventStream.PreviousHeader].ToString(), System.Globalization.CultureInfo.InvariantCulture),
                m.Headers.TryGetValue("Nats-Msg-Id", out var id) ? id.ToString() : null, Encoding.ASCII.GetString(m.Data!)));
        }
        return result;
    }

    /// <summary>Waits (at most <paramref name="timeout"/>) until the stream's last message is at <paramref name="position"/> or later.</summary>
    public async Task<IReadOnlyList<RelayedMessage>> WaitForAsync(long position, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var all = await ReadAllAsync();
            if (all.Count > 0 && all[^1].Position >= position) return all;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"the stream reached position {(all.Count == 0 ? 0 : all[^1].Position)}, not {position}, within {timeout.TotalSeconds} s");
            await Task.Delay(100);
        }
    }

    /// <summary>The journal, as the stream must hold it: one message per position, in order, each continuing the previous.</summary>
    public static void AssertContinuous(IReadOnlyList<RelayedMessage> messages, long head)
    {
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            // SQLite's positions are dense: the stream's sequence and the journal position move together.
            Assert.Equal((long)m.Sequence, m.Position);
            Assert.Equal(m.Position.ToString(System.Globalization.CultureInfo.InvariantCulture), m.MsgId);
            Assert.Equal(i == 0 ? 0 : messages[i - 1].Position, m.Previous);
            Assert.Equal(m.Position, m.Claims[SetEncoder.JournalPositionClaim]!.GetValue<long>());
        }
        Assert.Equal(head, messages.Count);
    }

    public ValueTask DisposeAsync() => _nats.DisposeAsync();
}
