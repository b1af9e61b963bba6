using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Patching;

namespace ScimSync.Protocol.Filtering;

/// <summary>Parser for the filter grammar of RFC 7644 §3.4.2.2 and the PATCH path grammar of §3.5.2.</summary>
public static class ScimFilterParser
{
    /// <summary>Parses a filter; throws <see cref="ScimException"/> 400 invalidFilter with a helpful detail.</summary>
    public static ScimFilter Parse(string text) => throw new NotImplementedException();

    /// <summary>Parses a PATCH path; throws 400 invalidPath (bad path) or invalidFilter (bad filter inside brackets).</summary>
    public static PatchPath ParsePatchPath(string text) => throw new NotImplementedException();
}
