using System.Globalization;

namespace ScimSync.Sync.Guard;

/// <summary>A limit written as a count ("50") or a share of the managed accounts ("10%").</summary>
public readonly record struct Threshold(double Value, bool IsPercent)
{
    public static Threshold Parse(string text)
    {
        text = text.Trim();
        var percent = text.EndsWith('%');
        if (!double.TryParse(percent ? text[..^1] : text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v) || v < 0)
            throw new FormatException("expected a count (50) or a percentage (10%)");
        return new Threshold(v, percent);
    }

    public bool Exceeded(int count, int managed) => IsPercent ? count > Math.Max(1, managed) * Value / 100.0 : count > Value;

    public override string ToString() => IsPercent ? Value.ToString(CultureInfo.InvariantCulture) + "%" : Value.ToString(CultureInfo.InvariantCulture);
}
