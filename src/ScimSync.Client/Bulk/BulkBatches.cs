using System.Text;
using System.Text.Json;
using ScimSync.Protocol.Messages;

namespace ScimSync.Client.Bulk;

/// <summary>A Bulk request ready to send: its operations and the exact bytes of its body.</summary>
/// <param name="Fits">False for a unit that does not fit a request even alone (too many operations or bytes): send it as single requests; <paramref name="Body"/> is empty.</param>
public sealed record BulkBatch(IReadOnlyList<BulkOperation> Operations, ReadOnlyMemory<byte> Body, bool Fits = true);

/// <summary>
/// Splits work into Bulk requests within the service provider's <c>bulk.maxOperations</c> and
/// <c>bulk.maxPayloadSize</c>, the size measured on the serialized bytes that are sent (the body is built here,
/// so what was measured is what goes). Work comes in units: operations that must share a request (a group's
/// POST and the PATCH that refers to it by <c>bulkId:</c>) are never split apart. <c>failOnErrors</c> is left
/// unset: every operation is tried and answered on its own. Lazy: an initial load of 100,000 accounts holds
/// only the requests being sent.
/// </summary>
public static class BulkBatches
{
    private static readonly byte[] Head = Encoding.UTF8.GetBytes($"{{\"schemas\":[\"{ScimSchemaUris.BulkRequest}\"],\"Operations\":[");
    private static readonly byte[] Tail = "]}"u8.ToArray();

    /// <summary>The bytes of a request with no operations; each operation adds its own bytes and, after the first, a comma.</summary>
    public static int EnvelopeBytes => Head.Length + Tail.Length;

    /// <param name="maxOperations">Operations per request at most (the advertised maxOperations, or less).</param>
    /// <param name="maxPayloadBytes">Bytes per request body at most (the advertised maxPayloadSize).</param>
    public static IEnumerable<BulkBatch> Split(IEnumerable<IReadOnlyList<BulkOperation>> units, int maxOperations, int maxPayloadBytes)
    {
        ArgumentNullException.ThrowIfNull(units);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOperations, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPayloadBytes, EnvelopeBytes + 2);
        return SplitIterator(units, maxOperations, maxPayloadBytes);
    }

    private static IEnumerable<BulkBatch> SplitIterator(IEnumerable<IReadOnlyList<BulkOperation>> units, int maxOperations, int maxPayloadBytes)
    {
        var ops = new List<BulkOperation>();
        var bodies = new List<byte[]>();
        var bytes = EnvelopeBytes;
        foreach (var unit in units)
        {
            if (unit.Count == 0) continue;
            var serialized = unit.Select(Serialize).ToArray();
            var size = serialized.Sum(s => s.Length) + unit.Count - 1;
            if (unit.Count > maxOperations || EnvelopeBytes + size > maxPayloadBytes)
            {
                yield return new BulkBatch(unit, ReadOnlyMemory<byte>.Empty, Fits: false);
                continue;
            }
            if (ops.Count > 0 && (ops.Count + unit.Count > maxOperations || bytes + 1 + size > maxPayloadBytes))
            {
                yield return new BulkBatch(ops.ToArray(), Body(bodies));
                ops.Clear();
                bodies.Clear();
                bytes = EnvelopeBytes;
            }
            bytes += size + (ops.Count > 0 ? 1 : 0);
            ops.AddRange(unit);
            bodies.AddRange(serialized);
        }
        if (ops.Count > 0) yield return new BulkBatch(ops.ToArray(), Body(bodies));
    }

    /// <summary>A request holding exactly these operations (used again when a request is split after a 413).</summary>
    public static BulkBatch Of(IReadOnlyList<BulkOperation> operations) => new(operations, Body(operations.Select(Serialize).ToList()));

    /// <summary>One operation as sent; the resource is written as it is, not copied.</summary>
    private static byte[] Serialize(BulkOperation op)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("method", op.Method);
            w.WriteString("path", op.Path);
            w.WriteString("bulkId", op.BulkId);
            if (op.Version is not null) w.WriteString("version", op.Version);
            if (op.Data is not null)
            {
                w.WritePropertyName("data");
                op.Data.WriteTo(w);
            }
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static byte[] Body(List<byte[]> operations)
    {
        var length = EnvelopeBytes + operations.Sum(o => o.Length) + Math.Max(0, operations.Count - 1);
        var body = new byte[length];
        var at = 0;
        void Put(byte[] b)
        {
            b.CopyTo(body, at);
            at += b.Length;
        }
        Put(Head);
        for (var i = 0; i < operations.Count; i++)
        {
            if (i > 0) body[at++] = (byte)',';
            Put(operations[i]);
        }
        Put(Tail);
        return body;
    }
}
