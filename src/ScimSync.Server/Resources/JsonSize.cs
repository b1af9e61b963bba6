using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ScimSync.Server.Resources;

/// <summary>The UTF-8 size of a JSON document as the store writes it, counted without building the text.</summary>
internal static class JsonSize
{
    public static long Of(JsonNode node)
    {
        var counter = new Counter();
        using (var w = new Utf8JsonWriter(counter, new JsonWriterOptions { SkipValidation = true }))
            node.WriteTo(w);
        return counter.Written;
    }

    /// <summary>Hands the writer the same scratch buffer again and again, keeping only the count.</summary>
    private sealed class Counter : IBufferWriter<byte>
    {
        private byte[] _scratch = new byte[4096];
        public long Written { get; private set; }

        public void Advance(int count) => Written += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => Scratch(sizeHint);

        public Span<byte> GetSpan(int sizeHint = 0) => Scratch(sizeHint);

        private byte[] Scratch(int sizeHint)
        {
            if (sizeHint > _scratch.Length) _scratch = new byte[sizeHint];
            return _scratch;
        }
    }
}
