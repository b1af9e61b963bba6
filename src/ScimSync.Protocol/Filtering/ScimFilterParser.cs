using System.Globalization;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Filtering;

/// <summary>Parser for the filter grammar of RFC 7644 §3.4.2.2 and the PATCH path grammar of §3.5.2.</summary>
/// <remarks>
/// Positions in error details are zero-based character offsets into the text that was passed in.
/// Keywords (and, or, not), operators and literals are case-insensitive. "and", "or" and "not" are only
/// keywords where the grammar allows them, so no attribute name is reserved.
/// </remarks>
public static class ScimFilterParser
{
    /// <summary>Longer texts are rejected before any work is done on them.</summary>
    public const int MaxLength = 8192;

    /// <summary>
    /// Deepest allowed nesting of "(", "not (" and "[". The parser is recursive, so this bound (with
    /// <see cref="MaxLength"/>) is what keeps hostile input from exhausting the stack.
    /// </summary>
    public const int MaxDepth = 64;

    private const string OperatorList = "eq, ne, co, sw, ew, gt, ge, lt, le, pr";

    /// <summary>Parses a filter; throws <see cref="ScimException"/> 400 invalidFilter with a helpful detail.</summary>
    public static ScimFilter Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw ScimException.InvalidFilter("The filter is empty");
        if (text.Length > MaxLength)
            throw ScimException.InvalidFilter($"The filter is too long: {text.Length} characters, the limit is {MaxLength}");
        var tokens = new FilterTokenizer(text);
        var parser = new Parser(tokens, depth: 0);
        var filter = parser.ParseOr(inValuePath: false);
        var next = tokens.Next();
        if (next.Kind != FilterTokenKind.End)
            throw next.Kind switch
            {
                FilterTokenKind.RightParen => ScimException.InvalidFilter($"Unexpected ')' at position {next.Position}: there is no '(' for it to close"),
                FilterTokenKind.RightBracket => ScimException.InvalidFilter($"Unexpected ']' at position {next.Position}: there is no '[' for it to close"),
                _ => ScimException.InvalidFilter($"Unexpected {next.Describe()} at position {next.Position}; expected \"and\", \"or\" or the end of the filter"),
            };
        return filter;
    }

    /// <summary>Parses a PATCH path; throws 400 invalidPath (bad path) or invalidFilter (bad filter inside brackets).</summary>
    /// <remarks>
    /// Leading and trailing whitespace is ignored. <c>name.givenName[...]</c> is accepted as the grammar
    /// allows it; whether the attribute can take a value filter is for the caller, which knows the schema.
    /// </remarks>
    public static PatchPath ParsePatchPath(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw ScimException.InvalidPath("The PATCH path is empty");
        if (text.Length > MaxLength)
            throw ScimException.InvalidPath($"The PATCH path is too long: {text.Length} characters, the limit is {MaxLength}");
        var start = 0;
        while (char.IsWhiteSpace(text[start])) start++;
        var end = text.Length;
        while (char.IsWhiteSpace(text[end - 1])) end--;

        var bracket = text.IndexOf('[', start, end - start);
        var attrEnd = bracket < 0 ? end : bracket;
        var attrText = text[start..attrEnd];
        var attr = ParsePath(attrText)
            ?? throw ScimException.InvalidPath($"\"{attrText}\" at position {start} is not a valid attribute path");
        if (bracket < 0) return new PatchPath(attr, null, null);

        // Checked before parsing so that a missing ']' is reported as a broken path rather than as
        // whatever the filter parser trips over first when it runs off the end.
        if (!HasClosingBracket(text, bracket + 1, end))
            throw ScimException.InvalidPath($"The '[' at position {bracket} has no matching ']'");

        var tokens = new FilterTokenizer(text[..end], bracket + 1);
        var filter = new Parser(tokens, depth: 1).ParseOr(inValuePath: true);
        var close = tokens.Next();
        if (close.Kind == FilterTokenKind.End)
            throw ScimException.InvalidPath($"The '[' at position {bracket} has no matching ']'");
        if (close.Kind != FilterTokenKind.RightBracket)
            throw ScimException.InvalidFilter($"Unexpected {close.Describe()} at position {close.Position}; expected \"and\", \"or\" or ']'");

        var rest = text.AsSpan(close.Position + 1, end - close.Position - 1);
        if (rest.IsEmpty) return new PatchPath(attr, filter, null);
        if (rest[0] == '.' && AttributePath.IsAttrName(rest[1..]))
            return new PatchPath(attr, filter, rest[1..].ToString());
        throw ScimException.InvalidPath(
            $"Unexpected \"{rest}\" at position {close.Position + 1}; only \".subAttribute\" may follow the closing ']'");
    }

    /// <summary>Scans for a ']' outside string literals, so that a ']' inside a quoted value does not count.</summary>
    private static bool HasClosingBracket(string text, int from, int end)
    {
        var inString = false;
        for (var i = from; i < end; i++)
        {
            var c = text[i];
            if (inString)
            {
                if (c == '\\') i++;
                else if (c == '"') inString = false;
            }
            else if (c == '"') inString = true;
            else if (c == ']') return true;
        }
        return false;
    }

    /// <summary>
    /// <see cref="AttributePath.TryParse"/> checks the names but takes everything before the last colon as
    /// the URN; this also keeps characters out of the URN that no URN (RFC 8141) contains.
    /// </summary>
    private static AttributePath? ParsePath(string text)
    {
        var path = AttributePath.TryParse(text);
        if (path?.SchemaUrn is { } urn)
            foreach (var c in urn)
                if (!(char.IsAsciiLetterOrDigit(c) || "-._~:%!$&'*+,;=@/".Contains(c)))
                    return null;
        return path;
    }

    private static bool TryParseOperator(string word, out ComparisonOperator op)
    {
        // Enum.TryParse would also accept "1" or "Eq, Ne"; only the nine names are operators.
        switch (word.ToLowerInvariant())
        {
            case "eq": op = ComparisonOperator.Eq; return true;
            case "ne": op = ComparisonOperator.Ne; return true;
            case "co": op = ComparisonOperator.Co; return true;
            case "sw": op = ComparisonOperator.Sw; return true;
            case "ew": op = ComparisonOperator.Ew; return true;
            case "gt": op = ComparisonOperator.Gt; return true;
            case "ge": op = ComparisonOperator.Ge; return true;
            case "lt": op = ComparisonOperator.Lt; return true;
            case "le": op = ComparisonOperator.Le; return true;
            default: op = default; return false;
        }
    }

    /// <summary>Whether <paramref name="t"/> can follow an attribute path, i.e. the word before it was one.</summary>
    private static bool CanFollowPath(FilterToken t) =>
        t.Kind == FilterTokenKind.LeftBracket
        || (t.Kind == FilterTokenKind.Word && (t.IsWord("pr") || TryParseOperator(t.Text, out _)));

    /// <summary>RFC 8259 §6 number syntax; decimal.TryParse alone would also take "+1", ".5" or "1.".</summary>
    private static bool IsJsonNumber(ReadOnlySpan<char> s)
    {
        var i = 0;
        if (i < s.Length && s[i] == '-') i++;
        if (i >= s.Length) return false;
        if (s[i] == '0') i++;
        else if (s[i] is >= '1' and <= '9') while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
        else return false;
        if (i < s.Length && s[i] == '.')
        {
            var digits = ++i;
            while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
            if (i == digits) return false;
        }
        if (i < s.Length && s[i] is 'e' or 'E')
        {
            i++;
            if (i < s.Length && s[i] is '+' or '-') i++;
            var digits = i;
            while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
            if (i == digits) return false;
        }
        return i == s.Length;
    }

    /// <summary>
    /// Recursive descent, one method per precedence level: or &lt; and &lt; (not, parentheses, attrExp,
    /// valuePath). Chains of and/or are loops, so only real nesting costs stack.
    /// </summary>
    private sealed class Parser(FilterTokenizer tokens, int depth)
    {
        private int _depth = depth;

        public ScimFilter ParseOr(bool inValuePath)
        {
            var left = ParseAnd(inValuePath);
            while (tokens.Peek().IsWord("or"))
            {
                tokens.Next();
                left = new OrFilter(left, ParseAnd(inValuePath));
            }
            return left;
        }

        private ScimFilter ParseAnd(bool inValuePath)
        {
            var left = ParseUnary(inValuePath);
            while (tokens.Peek().IsWord("and"))
            {
                tokens.Next();
                left = new AndFilter(left, ParseUnary(inValuePath));
            }
            return left;
        }

        private ScimFilter ParseUnary(bool inValuePath)
        {
            var t = tokens.Next();
            switch (t.Kind)
            {
                case FilterTokenKind.LeftParen:
                {
                    Enter(t);
                    var inner = ParseOr(inValuePath);
                    ExpectClose(FilterTokenKind.RightParen, t);
                    _depth--;
                    return inner;
                }
                case FilterTokenKind.Word:
                {
                    var next = tokens.Peek();
                    if (t.IsWord("not"))
                    {
                        if (next.Kind == FilterTokenKind.LeftParen)
                        {
                            var open = tokens.Next();
                            Enter(t);
                            var inner = ParseOr(inValuePath);
                            ExpectClose(FilterTokenKind.RightParen, open);
                            _depth--;
                            return new NotFilter(inner);
                        }
                        // An attribute named "not" stays possible: "not pr" or "not eq 1".
                        if (!CanFollowPath(next))
                            throw ScimException.InvalidFilter(
                                $"\"not\" at position {t.Position} must be followed by a parenthesised filter, e.g. not (title pr); found {next.Describe()}");
                    }
                    else if ((t.IsWord("and") || t.IsWord("or")) && !CanFollowPath(next))
                    {
                        throw ScimException.InvalidFilter(
                            $"Expected a filter expression before \"{t.Text}\" at position {t.Position}");
                    }
                    return ParseAttributeExpression(t, inValuePath);
                }
                case FilterTokenKind.End:
                    throw ScimException.InvalidFilter(
                        $"The filter ends at position {t.Position} where an expression was expected (an attribute path, '(' or \"not\")");
                default:
                    throw ScimException.InvalidFilter(
                        $"Unexpected {t.Describe()} at position {t.Position}; expected an attribute path, '(' or \"not\"");
            }
        }

        private ScimFilter ParseAttributeExpression(FilterToken pathToken, bool inValuePath)
        {
            var path = ParsePath(pathToken.Text) ?? throw ScimException.InvalidFilter(
                $"\"{pathToken.Text}\" at position {pathToken.Position} is not a valid attribute path");
            var t = tokens.Next();
            switch (t.Kind)
            {
                case FilterTokenKind.LeftBracket:
                {
                    if (inValuePath)
                        throw ScimException.InvalidFilter(
                            $"Nested '[' at position {t.Position}: a filter inside [...] cannot contain another [...]");
                    Enter(t);
                    var inner = ParseOr(inValuePath: true);
                    ExpectClose(FilterTokenKind.RightBracket, t);
                    _depth--;
                    var after = tokens.Peek();
                    if (after.Kind == FilterTokenKind.Word && after.Text.StartsWith('.'))
                        throw ScimException.InvalidFilter(
                            $"\"{after.Text}\" at position {after.Position}: a sub-attribute after ']' is only allowed in PATCH paths; " +
                            "in a filter put the comparison inside the brackets");
                    return new ValuePathFilter(path, inner);
                }
                case FilterTokenKind.Word when t.IsWord("pr"):
                    return new PresentFilter(path);
                case FilterTokenKind.Word when TryParseOperator(t.Text, out var op):
                    return new ComparisonFilter(path, op, ParseValue(t));
                case FilterTokenKind.Word:
                    throw ScimException.InvalidFilter(
                        $"Unknown operator \"{t.Text}\" at position {t.Position}; expected one of {OperatorList}");
                case FilterTokenKind.End:
                    throw ScimException.InvalidFilter(
                        $"Missing operator after \"{pathToken.Text}\" at position {t.Position}; expected one of {OperatorList}");
                default:
                    throw ScimException.InvalidFilter(
                        $"Unexpected {t.Describe()} at position {t.Position}; expected one of {OperatorList} after \"{pathToken.Text}\"");
            }
        }

        private FilterValue ParseValue(FilterToken op)
        {
            var t = tokens.Next();
            switch (t.Kind)
            {
                case FilterTokenKind.String:
                    return FilterValue.Of(t.Text);
                case FilterTokenKind.End:
                    throw ScimException.InvalidFilter(
                        $"Missing value after operator \"{op.Text}\" at position {t.Position}; expected a string in double quotes, a number, true, false or null");
                case FilterTokenKind.Word:
                    if (t.IsWord("true")) return FilterValue.Of(true);
                    if (t.IsWord("false")) return FilterValue.Of(false);
                    if (t.IsWord("null")) return FilterValue.Null;
                    if (IsJsonNumber(t.Text))
                    {
                        if (decimal.TryParse(t.Text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
                                CultureInfo.InvariantCulture, out var number))
                            return FilterValue.Of(number);
                        throw ScimException.InvalidFilter($"The number {t.Text} at position {t.Position} is out of range");
                    }
                    if (t.Text.StartsWith('\''))
                        throw ScimException.InvalidFilter(
                            $"Single-quoted string at position {t.Position}; strings must be in double quotes (JSON)");
                    break;
            }
            throw ScimException.InvalidFilter(
                $"Invalid value {t.Describe()} at position {t.Position} after \"{op.Text}\"; expected a string in double quotes, a number, true, false or null");
        }

        private void ExpectClose(FilterTokenKind kind, FilterToken open)
        {
            var t = tokens.Next();
            if (t.Kind == kind) return;
            var close = kind == FilterTokenKind.RightParen ? "')'" : "']'";
            if (t.Kind == FilterTokenKind.End)
                throw ScimException.InvalidFilter($"Missing {close} to close the '{open.Text}' at position {open.Position}");
            throw ScimException.InvalidFilter(
                $"Unexpected {t.Describe()} at position {t.Position}; expected \"and\", \"or\" or {close}");
        }

        private void Enter(FilterToken t)
        {
            if (++_depth > MaxDepth)
                throw ScimException.InvalidFilter(
                    $"The filter is too deeply nested at position {t.Position}: at most {MaxDepth} levels of parentheses and brackets are allowed");
        }
    }
}
