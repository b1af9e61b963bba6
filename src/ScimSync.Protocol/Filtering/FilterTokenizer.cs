using System.Globalization;
using System.Text;
using ScimSync.Protocol.Errors;

namespace ScimSync.Protocol.Filtering;

internal enum FilterTokenKind { Word, String, LeftParen, RightParen, LeftBracket, RightBracket, End }

/// <summary>
/// One token. <see cref="Position"/> is the zero-based offset of its first character in the whole text
/// (for a PATCH path, the whole path), which is what error details quote.
/// </summary>
internal readonly record struct FilterToken(FilterTokenKind Kind, string Text, int Position)
{
    public bool IsWord(string keyword) =>
        Kind == FilterTokenKind.Word && string.Equals(Text, keyword, StringComparison.OrdinalIgnoreCase);

    public string Describe() => Kind switch
    {
        FilterTokenKind.End => "the end of the text",
        FilterTokenKind.String => "the string \"" + Shorten(Text) + "\"",
        FilterTokenKind.Word => "\"" + Shorten(Text) + "\"",
        _ => "'" + Text + "'",
    };

    // Error details are echoed to clients and logs; a pasted megabyte of text should not come back whole.
    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "...";
}

/// <summary>
/// Splits filter text into words, JSON strings and the four bracket characters. It is lazy (one token of
/// look-ahead) so that a PATCH path can hand the text after its closing ']' to a different grammar
/// without this tokenizer ever having judged it.
/// </summary>
/// <remarks>
/// A word runs up to whitespace, a bracket, a parenthesis or a double quote. That one rule covers
/// attribute paths (URNs contain ':' and '.'), operators, keywords and the literals true/false/null and
/// numbers, and it lets "not(" and "eq\"x\"" split without requiring spaces.
/// </remarks>
internal sealed class FilterTokenizer
{
    private readonly string _text;
    private int _offset;
    private FilterToken? _peeked;

    // int.TryParse with AllowHexSpecifier tolerates surrounding whitespace; JSON does not.
    private static readonly System.Buffers.SearchValues<char> HexDigits =
        System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    public FilterTokenizer(string text, int start = 0)
    {
        _text = text;
        _offset = start;
    }

    public FilterToken Peek() => _peeked ??= Read();

    public FilterToken Next()
    {
        var t = Peek();
        _peeked = null;
        return t;
    }

    private FilterToken Read()
    {
        while (_offset < _text.Length && char.IsWhiteSpace(_text[_offset])) _offset++;
        if (_offset >= _text.Length) return new FilterToken(FilterTokenKind.End, "", _text.Length);
        var start = _offset;
        var c = _text[_offset];
        switch (c)
        {
            case '(': _offset++; return new FilterToken(FilterTokenKind.LeftParen, "(", start);
            case ')': _offset++; return new FilterToken(FilterTokenKind.RightParen, ")", start);
            case '[': _offset++; return new FilterToken(FilterTokenKind.LeftBracket, "[", start);
            case ']': _offset++; return new FilterToken(FilterTokenKind.RightBracket, "]", start);
            case '"': return new FilterToken(FilterTokenKind.String, ReadString(), start);
        }
        while (_offset < _text.Length && !IsDelimiter(_text[_offset])) _offset++;
        return new FilterToken(FilterTokenKind.Word, _text[start.._offset], start);
    }

    private static bool IsDelimiter(char c) => char.IsWhiteSpace(c) || c is '(' or ')' or '[' or ']' or '"';

    /// <summary>A JSON string (RFC 8259 §7), starting at the opening quote.</summary>
    private string ReadString()
    {
        var start = _offset;
        var sb = new StringBuilder();
        _offset++;
        while (true)
        {
            if (_offset >= _text.Length)
                throw ScimException.InvalidFilter($"Unterminated string starting at position {start}; strings end with a double quote");
            var c = _text[_offset];
            if (c == '"')
            {
                _offset++;
                break;
            }
            if (c == '\\')
            {
                sb.Append(ReadEscape());
                continue;
            }
            if (c < 0x20)
                throw ScimException.InvalidFilter($"Control character U+{(int)c:X4} at position {_offset} must be escaped inside a string");
            sb.Append(c);
            _offset++;
        }
        var s = sb.ToString();
        // A lone surrogate cannot be stored as UTF-8 or ordered by code point, so the stores and the
        // evaluator would disagree about it; reject it here, where the client can be told why.
        if (!IsWellFormedUtf16(s))
            throw ScimException.InvalidFilter($"The string starting at position {start} contains an unpaired UTF-16 surrogate");
        return s;
    }

    private char ReadEscape()
    {
        var at = _offset;
        if (_offset + 1 >= _text.Length)
            throw ScimException.InvalidFilter($"Unterminated string: escape at position {at} has nothing after the backslash");
        var e = _text[_offset + 1];
        _offset += 2;
        switch (e)
        {
            case '"': return '"';
            case '\\': return '\\';
            case '/': return '/';
            case 'b': return '\b';
            case 'f': return '\f';
            case 'n': return '\n';
            case 'r': return '\r';
            case 't': return '\t';
            case 'u':
                if (_offset + 4 <= _text.Length
                    && !_text.AsSpan(_offset, 4).ContainsAnyExcept(HexDigits)
                    && int.TryParse(_text.AsSpan(_offset, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
                {
                    _offset += 4;
                    return (char)code;
                }
                throw ScimException.InvalidFilter($"Invalid escape at position {at}: \\u must be followed by four hexadecimal digits");
            default:
                throw ScimException.InvalidFilter(
                    $"Invalid escape \"\\{e}\" at position {at}; strings allow \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX");
        }
    }

    internal static bool IsWellFormedUtf16(ReadOnlySpan<char> s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]))
            {
                if (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1])) return false;
                i++;
            }
            else if (char.IsLowSurrogate(s[i]))
            {
                return false;
            }
        }
        return true;
    }
}
