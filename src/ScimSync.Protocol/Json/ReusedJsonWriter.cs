using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace ScimSync.Protocol.Json;

/// <summary>
/// A <see cref="Utf8JsonWriter"/> and its buffer, kept per thread and used again for every small document written on
/// hot paths (a resource's spliced tail, PostgreSQL's folded copy, a provisioning-log entry): a new writer asks its
/// buffer for 4 KB at its first write, so a fresh one per document allocated and zeroed 4 KB each time. A buffer that
/// grew past <see cref="KeptCapacity"/> (a very large document) is dropped at the end rather than kept.
/// </summary>
/// <remarks>
/// A lease takes the thread's writer away while it is held, so a write nested inside another on the same thread gets
/// a writer of its own instead of overwriting the outer one. Use it synchronously: the lease belongs to its thread.
/// </remarks>
public static class ReusedJsonWriter
{
    private const int KeptCapacity = 64 * 1024;

    [ThreadStatic] private static State? t_default;
    [ThreadStatic] private static State? t_relaxed;

    /// <param name="relaxedEscaping">
    /// <see cref="JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/> (non-ASCII kept as it is): for text stored and printed,
    /// never embedded in HTML. Otherwise the default encoder, as <c>JsonNode.ToJsonString()</c> writes.
    /// </param>
    public static Lease Rent(bool relaxedEscaping = false)
    {
        ref var slot = ref relaxedEscaping ? ref t_relaxed : ref t_default;
        var state = slot ?? new State(relaxedEscaping);
        slot = null;
        state.Buffer.ResetWrittenCount();
        state.Writer.Reset(state.Buffer);
        return new Lease(state);
    }

    internal sealed class State
    {
        public readonly bool Relaxed;
        public readonly ArrayBufferWriter<byte> Buffer = new(4096);
        public readonly Utf8JsonWriter Writer;

        public State(bool relaxed)
        {
            Relaxed = relaxed;
            Writer = new Utf8JsonWriter(Buffer, relaxed ? new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping } : default);
        }
    }

    public readonly struct Lease : IDisposable
    {
        private readonly State _state;

        internal Lease(State state) => _state = state;

        public Utf8JsonWriter Writer => _state.Writer;

        /// <summary>What has been written so far (the writer is flushed first).</summary>
        public ReadOnlySpan<byte> Written
        {
            get
            {
                _state.Writer.Flush();
                return _state.Buffer.WrittenSpan;
            }
        }

        /// <summary>What has been written, as a string.</summary>
        public override string ToString() => System.Text.Encoding.UTF8.GetString(Written);

        /// <summary>Gives the writer back to its thread, unless its buffer grew too large to keep.</summary>
        public void Dispose()
        {
            if (_state.Buffer.Capacity > KeptCapacity) return;
            if (_state.Relaxed) t_relaxed = _state;
            else t_default = _state;
        }
    }
}
