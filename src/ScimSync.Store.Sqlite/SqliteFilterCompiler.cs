using System.Text;
using Microsoft.Data.Sqlite;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using ScimSync.Store.Querying;

namespace ScimSync.Store.Sqlite;

/// <summary>
/// Compiles a <see cref="BoundFilter"/> to a SQLite boolean expression over <c>resources r</c>.
/// Hot attributes map to indexed columns; the rest read the JSON document. Semantics must equal
/// <see cref="FilterEvaluator"/> exactly (a property test checks this):
/// <list type="bullet">
/// <item>A missing value makes a comparison NULL, which AND/OR treat as false; NOT wraps its operand in
/// coalesce(…, 0) so that "no value" negates to true, as in memory.</item>
/// <item>Case-insensitive text is compared after <c>scim_fold</c> (the same .NET function as in memory);
/// SQLite's BINARY order on UTF-8 is code point order, as <see cref="Protocol.Resources.ScimText.CompareCodePoints"/>.</item>
/// <item>dateTime values compare as instants through <c>scim_instant</c> (UTC ticks).</item>
/// </list>
/// </summary>
internal sealed class SqliteFilterCompiler
{
    private readonly List<SqliteParameter> _parameters = [];
    private int _aliases;

    public IReadOnlyList<SqliteParameter> Parameters => _parameters;

    public string Compile(BoundFilter filter) => Compile(filter, element: null);

    private string Compile(BoundFilter filter, Element? element) => filter switch
    {
        BoundConstant c => c.Value ? "1" : "0",
        BoundAnd a => $"({Compile(a.Left, element)} AND {Compile(a.Right, element)})",
        BoundOr o => $"({Compile(o.Left, element)} OR {Compile(o.Right, element)})",
        BoundNot n => $"(NOT coalesce({Compile(n.Inner, element)}, 0))",
        BoundPresent p => Present(p.Attribute, element),
        BoundComparison c => Comparison(c, element),
        BoundValuePath v => ValuePath(v),
        _ => throw new ArgumentOutOfRangeException(nameof(filter)),
    };

    /// <summary>Where the values of one multi-valued attribute come from, for filters inside brackets.</summary>
    private abstract record Element
    {
        public abstract string? Sub(SchemaAttribute sub);
    }

    private sealed record JsonElement(string Alias) : Element
    {
        public override string Sub(SchemaAttribute sub) => $"json_extract({Alias}.value, '{JsonPath.Label(sub.Name)}')";
    }

    private sealed record MemberElement(string Alias) : Element
    {
        public override string? Sub(SchemaAttribute sub) => sub.Name switch
        {
            "value" => $"{Alias}.member_id",
            "type" => $"{Alias}.member_type",
            "display" => $"{Alias}.display",
            _ => null, // $ref is computed from the request's base URL; the store cannot filter on it
        };
    }

    /// <summary>One of a user's groups, direct or indirect, as SqliteGroupReach computes them for User.groups.</summary>
    private sealed record GroupElement(string Alias) : Element
    {
        public override string? Sub(SchemaAttribute sub) => sub.Name switch
        {
            "value" => $"{Alias}.id",
            "display" => $"{Alias}.display",
            "type" => $"(CASE WHEN {Alias}.indirect THEN 'indirect' ELSE 'direct' END)",
            _ => null,
        };
    }

    private string NextAlias(string prefix) => prefix + (++_aliases).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static bool IsMembers(ResolvedAttribute a) => a.ContainerUrn is null && a.Schema.Id == Protocol.Messages.ScimSchemaUris.Group && a.Attribute.Name == "members";

    private static bool IsGroups(ResolvedAttribute a) => a.ContainerUrn is null && a.Schema.Id == Protocol.Messages.ScimSchemaUris.User && a.Attribute.Name == "groups";

    /// <summary>Element source and the FROM clause that iterates it.</summary>
    private (Element Element, string From) Iterate(ResolvedAttribute a)
    {
        if (IsMembers(a))
        {
            var m = NextAlias("m");
            return (new MemberElement(m), $"group_members {m} WHERE {m}.group_seq = r.seq");
        }
        if (IsGroups(a))
        {
            var g = NextAlias("g");
            return (new GroupElement(g), $"({SqliteGroupReach.Groups("m0.member_id = r.id")}) {g} WHERE 1");
        }
        var e = NextAlias("e");
        return (new JsonElement(e), $"json_each(r.data, '{JsonPath.Of(a.ContainerUrn, a.Attribute.Name)}') {e} WHERE 1");
    }

    private string ValuePath(BoundValuePath v)
    {
        var (element, from) = Iterate(v.Attribute);
        return $"EXISTS (SELECT 1 FROM {from} AND {Compile(v.Inner, element)})";
    }

    /// <summary>A scalar column for single-valued hot attributes, already folded when the attribute is case-insensitive.</summary>
    private static (string Sql, bool Folded, bool Ticks)? Column(ResolvedAttribute a)
    {
        if (a.ContainerUrn is not null) return null;
        if (a.Schema.Id == CommonAttributes.SchemaId)
        {
            return (a.Attribute.Name, a.SubAttribute?.Name) switch
            {
                ("id", null) => ("r.id", false, false),
                ("externalId", null) => ("r.external_id", false, false),
                ("meta", "resourceType") => ("r.type", false, false),
                ("meta", "created") => ("r.created", false, true),
                ("meta", "lastModified") => ("r.modified", false, true),
                ("meta", "version") => ("('W/\"' || r.version || '\"')", false, false),
                _ => null,
            };
        }
        return (a.Schema.Id, a.Attribute.Name, a.SubAttribute) switch
        {
            // Bound as an identifier (ScimText.UniquenessKey), like the unique index: see BoundValue.Identifier.
            (Protocol.Messages.ScimSchemaUris.User, "userName", null) => ("r.user_name_key", true, false),
            (_, "displayName", null) => ("r.display_name_fold", true, false),
            _ => null,
        };
    }

    private string Present(ResolvedAttribute a, Element? element)
    {
        if (element is not null)
        {
            var sub = element.Sub(a.Target);
            return sub is null ? "0" : NonEmpty(sub);
        }
        if (a.Schema.Id == CommonAttributes.SchemaId && a.Attribute.Name is "id" or "meta") return "1";
        if (a.Attribute.Name == "schemas" && a.Schema.Id == CommonAttributes.SchemaId) return "1";
        if (Column(a) is { } col) return NonEmpty(col.Sql);
        if (IsMembers(a) || IsGroups(a))
        {
            var (el, from) = Iterate(a);
            var cond = a.SubAttribute is null ? "1" : el.Sub(a.SubAttribute) is { } s ? NonEmpty(s) : "0";
            return $"EXISTS (SELECT 1 FROM {from} AND {cond})";
        }
        if (a.Attribute.MultiValued)
        {
            var (el, from) = Iterate(a);
            var cond = a.SubAttribute is null ? NonEmpty($"{((JsonElement)el).Alias}.value") : NonEmpty(el.Sub(a.SubAttribute)!);
            return $"EXISTS (SELECT 1 FROM {from} AND {cond})";
        }
        // Stored documents never hold null, "" objects or empty arrays for complex values (they are
        // normalised away on write), so presence of a complex value is presence of the key.
        return NonEmpty($"json_extract(r.data, '{JsonPath.Of(a.ContainerUrn, a.Attribute.Name, a.SubAttribute?.Name)}')");
    }

    private static string NonEmpty(string expr) => $"({expr} IS NOT NULL AND {expr} <> '')";

    private string Comparison(BoundComparison c, Element? element)
    {
        var a = c.Attribute;
        if (element is not null)
        {
            var sub = element.Sub(a.Target);
            return sub is null ? "0" : Predicate(sub, c, folded: false, ticks: false, indexed: false);
        }
        if (Column(a) is { } col) return Predicate(col.Sql, c, col.Folded, col.Ticks, indexed: true);

        if (IsMembers(a) || IsGroups(a))
        {
            // "members.value eq X" must not scan every group: an IN over the member index does not.
            if (IsMembers(a) && a.SubAttribute?.Name == "value" && c.Operator == ComparisonOperator.Eq)
                return $"r.seq IN (SELECT group_seq FROM group_members WHERE member_id = {Param(c.Value.Text!)})";
            if (IsGroups(a) && a.SubAttribute?.Name == "value" && c.Operator == ComparisonOperator.Eq)
                return $"r.id IN ({SqliteGroupReach.UsersIn(Param(c.Value.Text!))})";
            var (el, from) = Iterate(a);
            var sub = el.Sub(a.Target);
            return sub is null ? "0" : $"EXISTS (SELECT 1 FROM {from} AND {Predicate(sub, c, false, false, false)})";
        }

        if (a.Attribute.MultiValued)
        {
            if (a.SubAttribute is not null && a.ContainerUrn is null && !a.Target.CaseExact && a.Target.Type == AttributeType.String
                && c.Operator is ComparisonOperator.Eq or ComparisonOperator.Sw
                && SqliteSchema.IndexedMultiValues.Contains((a.Attribute.Name, a.SubAttribute.Name))
                && a.Schema.Id == Protocol.Messages.ScimSchemaUris.User)
            {
                var attr = Param(a.Attribute.Name + "." + a.SubAttribute.Name);
                return $"r.seq IN (SELECT v.seq FROM resource_values v WHERE v.attr = {attr} AND {Predicate("v.value_fold", c, folded: true, ticks: false, indexed: true)})";
            }
            var (el, from) = Iterate(a);
            var expr = a.SubAttribute is null ? $"{((JsonElement)el).Alias}.value" : el.Sub(a.SubAttribute)!;
            return $"EXISTS (SELECT 1 FROM {from} AND {Predicate(expr, c, false, false, false)})";
        }
        var json = $"json_extract(r.data, '{JsonPath.Of(a.ContainerUrn, a.Attribute.Name, a.SubAttribute?.Name)}')";
        return Predicate(json, c, folded: false, ticks: false, indexed: false);
    }

    /// <summary>
    /// What a filter costs in the SQL that <see cref="Compile(BoundFilter)"/> writes, mirroring its choices
    /// term by term (keep the two together): how many terms read each candidate's document or member rows,
    /// and whether an index narrows the candidates at all (an AND needs one narrowed side, an OR both).
    /// </summary>
    public static (int Unindexed, bool Narrowed) Cost(BoundFilter filter) => filter switch
    {
        BoundConstant c => (0, !c.Value),
        BoundAnd a => Combine(Cost(a.Left), Cost(a.Right), and: true),
        BoundOr o => Combine(Cost(o.Left), Cost(o.Right), and: false),
        BoundNot n => (Cost(n.Inner).Unindexed, false),
        BoundPresent p => (ReadsEachResource(p.Attribute) && !AlwaysPresent(p.Attribute) ? 1 : 0, false),
        BoundComparison c => (ReadsEachResource(c.Attribute) && !UsesIndex(c) ? 1 : 0, UsesIndex(c)),
        // json_each (or the member rows) of every candidate, and each inner term for every value.
        BoundValuePath v => (Math.Max(1, Terms(v.Inner)), false),
        _ => throw new ArgumentOutOfRangeException(nameof(filter)),
    };

    private static (int, bool) Combine((int U, bool N) l, (int U, bool N) r, bool and) => (l.U + r.U, and ? l.N || r.N : l.N && r.N);

    private static int Terms(BoundFilter f) => f switch
    {
        BoundAnd a => Terms(a.Left) + Terms(a.Right),
        BoundOr o => Terms(o.Left) + Terms(o.Right),
        BoundNot n => Terms(n.Inner),
        BoundConstant => 0,
        _ => 1,
    };

    /// <summary>Columns with an index after the type (SqliteSchema): r.created and r.type narrow nothing within a type.</summary>
    private static readonly HashSet<string> IndexedColumns = ["r.id", "r.external_id", "r.modified", "r.user_name_key", "r.display_name_fold"];

    private static bool AlwaysPresent(ResolvedAttribute a) =>
        a.Schema.Id == CommonAttributes.SchemaId && a.Attribute.Name is "id" or "meta" or "schemas";

    /// <summary>True unless the attribute is one of <see cref="Column"/>'s indexed columns.</summary>
    private static bool ReadsEachResource(ResolvedAttribute a) => Column(a) is null;

    /// <summary>The comparison is answered by an index lookup or range, as <see cref="Comparison"/> writes it.</summary>
    private static bool UsesIndex(BoundComparison c)
    {
        var a = c.Attribute;
        var rangeable = c.Operator is ComparisonOperator.Eq or ComparisonOperator.Gt or ComparisonOperator.Ge or ComparisonOperator.Lt or ComparisonOperator.Le
            || (c.Operator == ComparisonOperator.Sw && c.Value.Text is { Length: > 0 } text && PrefixRange.UpperBound(text) is not null);
        if (Column(a) is { } col) return rangeable && IndexedColumns.Contains(col.Sql);
        if ((IsMembers(a) || IsGroups(a)) && a.SubAttribute?.Name == "value" && c.Operator == ComparisonOperator.Eq) return true;
        return a.Attribute.MultiValued && a.SubAttribute is not null && a.ContainerUrn is null && !a.Target.CaseExact && a.Target.Type == AttributeType.String
            && c.Operator is ComparisonOperator.Eq or ComparisonOperator.Sw
            && SqliteSchema.IndexedMultiValues.Contains((a.Attribute.Name, a.SubAttribute.Name))
            && a.Schema.Id == Protocol.Messages.ScimSchemaUris.User;
    }

    /// <param name="folded">The expression is already folded (an indexed column of folded text).</param>
    /// <param name="ticks">The expression is an instant in UTC ticks rather than text.</param>
    /// <param name="indexed">Write prefix matches as ranges so that an index on the expression applies.</param>
    private string Predicate(string expr, BoundComparison c, bool folded, bool ticks, bool indexed)
    {
        var v = c.Value;
        switch (v.Type)
        {
            case AttributeType.Boolean:
                return $"({expr} = {(v.Boolean ? 1 : 0)})";
            case AttributeType.Integer:
            case AttributeType.Decimal:
                return $"({expr} {Op(c.Operator)} {Param((double)v.Number)})";
            case AttributeType.DateTime:
                var lhs = ticks ? expr : $"scim_instant({expr})";
                return $"({lhs} {Op(c.Operator)} {Param(v.Instant.UtcTicks)})";
        }
        var text = v.Text ?? "";
        var l = v.CaseExact || folded ? expr : $"scim_fold({expr})";
        switch (c.Operator)
        {
            case ComparisonOperator.Co:
                return $"(instr({l}, {Param(text)}) > 0)";
            case ComparisonOperator.Sw:
                if (indexed && text.Length > 0 && PrefixRange.UpperBound(text) is { } upper)
                    return $"({l} >= {Param(text)} AND {l} < {Param(upper)})";
                return $"(substr({l}, 1, length({Param(text)})) = {Param(text)})";
            case ComparisonOperator.Ew:
                return text.Length == 0 ? $"({l} IS NOT NULL)" : $"(substr({l}, -length({Param(text)})) = {Param(text)})";
            default:
                return $"({l} {Op(c.Operator)} {Param(text)})";
        }
    }

    private static string Op(ComparisonOperator op) => op switch
    {
        ComparisonOperator.Eq => "=",
        ComparisonOperator.Gt => ">",
        ComparisonOperator.Ge => ">=",
        ComparisonOperator.Lt => "<",
        ComparisonOperator.Le => "<=",
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, "operator has no SQL comparison form"),
    };

    public string Param(object value)
    {
        var name = "@p" + _parameters.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _parameters.Add(new SqliteParameter(name, value));
        return name;
    }

    /// <summary>An ORDER BY key for one resource type's sort attribute (RFC 7644 §3.4.2.3).</summary>
    public static string? SortKey(ResolvedAttribute a)
    {
        if (Column(a) is { } col) return col.Sql;
        if (IsMembers(a) || IsGroups(a)) return null;
        string raw;
        if (a.Attribute.MultiValued)
        {
            // The primary value, else the first one.
            var path = JsonPath.Of(a.ContainerUrn, a.Attribute.Name);
            if (!a.Attribute.IsComplex)
            {
                // Simple multi-valued attributes (schemas, operator extensions) have no "primary": the first value.
                raw = $"(SELECT e.value FROM json_each(r.data, '{path}') e ORDER BY e.key LIMIT 1)";
            }
            else
            {
                var sub = a.SubAttribute?.Name ?? (a.Attribute.FindSubAttribute("value") is not null ? "value" : null);
                var pick = sub is null ? "e.value" : $"json_extract(e.value, '{JsonPath.Label(sub)}')";
                raw = $"(SELECT {pick} FROM json_each(r.data, '{path}') e ORDER BY (json_extract(e.value, '$.\"primary\"') IS 1) DESC, e.key LIMIT 1)";
            }
        }
        else
        {
            raw = $"json_extract(r.data, '{JsonPath.Of(a.ContainerUrn, a.Attribute.Name, a.SubAttribute?.Name)}')";
        }
        return a.Target.Type switch
        {
            AttributeType.DateTime => $"scim_instant({raw})",
            AttributeType.String when !a.Target.CaseExact => $"scim_fold({raw})",
            _ => raw,
        };
    }
}

/// <summary>SQLite JSON paths with every label quoted, since names may contain '$' and URNs contain ':' and '.'.</summary>
internal static class JsonPath
{
    public static string Label(string name) => "$.\"" + name + "\"";

    public static string Of(string? container, string attribute, string? sub = null)
    {
        var sb = new StringBuilder("$");
        if (container is not null) sb.Append(".\"").Append(container).Append('"');
        sb.Append(".\"").Append(attribute).Append('"');
        if (sub is not null) sb.Append(".\"").Append(sub).Append('"');
        return sb.ToString();
    }
}
