namespace ScimSync.Protocol.Filtering;

public enum FilterValueKind { String, Number, Boolean, Null }

/// <summary>A <c>compValue</c>: a JSON string, number, true, false or null.</summary>
public readonly record struct FilterValue(FilterValueKind Kind, string? Text, decimal Number, bool Boolean)
{
    public static FilterValue Null => new(FilterValueKind.Null, null, 0, false);
    public static FilterValue Of(string s) => new(FilterValueKind.String, s, 0, false);
    public static FilterValue Of(decimal d) => new(FilterValueKind.Number, null, d, false);
    public static FilterValue Of(bool b) => new(FilterValueKind.Boolean, null, 0, b);

    public override string ToString() => Kind switch
    {
        FilterValueKind.String => System.Text.Json.JsonSerializer.Serialize(Text),
        FilterValueKind.Number => Number.ToString(System.Globalization.CultureInfo.InvariantCulture),
        FilterValueKind.Boolean => Boolean ? "true" : "false",
        _ => "null",
    };
}
