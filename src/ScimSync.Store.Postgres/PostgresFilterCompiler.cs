using System.Text;
using Npgsql;
using ScimSync.Protocol.Filtering;
using ScimSync.Protocol.Schemas;
using ScimSync.Store.Querying;

namespace ScimSync.Store.Postgres;

/// <summary>
/// Compiles a <see cref="BoundFilter"/> to a PostgreSQL boolean expression over <c>resources r</c>, making the
/// same choices as SqliteFilterCompiler: hot attributes read their indexed columns, emails.value and
/// phoneNumbers.value their indexed rows (eq, sw), members.value and groups.value the member index (eq); the rest
/// reads the jsonb documents. Semantics must equal <see cref="FilterEvaluator"/> exactly (FilterEquivalenceTests
/// runs against both stores):
/// <list type="bullet">
/// <item>A missing value makes a comparison NULL, which AND/OR treat as false; NOT wraps its operand in
/// coalesce(…, false) so that "no value" negates to true, as in memory.</item>
/// <item>Case-insensitive text is read from <c>folded</c> (folded by ScimText.Fold when written); caseExact text
/// from <c>data</c> read as jsonb; dateTime values from <c>instants</c> (DerivedDocuments). Nothing is folded or parsed in SQL.</item>
/// <item>Text comparisons use <c>COLLATE "C"</c>: code point order, as ScimText.CompareCodePoints.</item>
/// <item>A value of the wrong JSON kind is no value (the scimsync_* helpers return NULL), as in memory.</item>
/// </list>
/// </summary>
internal sealed class PostgresFilterCompiler
{
    /// <summary>The row's document as jsonb (caseExact text, numbers, booleans, presence).</summary>
    private static readonly string Document = PostgresSchema.Exact("r");

    private readonly List<NpgsqlParameter> _parameters = [];
    private int _aliases;

    public IReadOnlyList<NpgsqlParameter> Parameters => _parameters;

    public string Compile(BoundFilter filter) => Compile(filter, element: null);

    private string Compile(BoundFilter filter, Element? element) => filter switch
    {
        BoundConstant c => c.Value ? "true" : "false",
        BoundAnd a => $"({Compile(a.Left, element)} AND {Compile(a.Right, element)})",
        BoundOr o => $"({Compile(o.Left, element)} OR {Compile(o.Right, element)})",
        BoundNot n => $"(NOT coalesce({Compile(n.Inner, element)}, false))",
        BoundPresent p => Present(p.Attribute, element),
        BoundComparison c => Comparison(c, element),
        BoundValuePath v => ValuePath(v),
        _ => throw new ArgumentOutOfRangeException(nameof(filter)),
    };

    /// <summary>
    /// One value as SQL can read it: exact text, folded text, a number, a boolean, an instant (ticks); null where
    /// the value has no such form. <see cref="Presence"/> is the "pr" test.
    /// </summary>
    private sealed record Operand(string? Exact, string? Folded, string? Number, string? Boolean, string? Ticks, string Presence)
    {
        /// <summary>A value held in jsonb: its exact, folded and instant forms at the same place.</summary>
        public static Operand Json(string exact, string folded, string instants) => new(
            $"scimsync_text({exact})", $"scimsync_text({folded})", $"scimsync_number({exact})", $"scimsync_boolean({exact})",
            $"scimsync_ticks({instants})", $"scimsync_present({exact})");

        /// <summary>A text column (or expression) and its folded form.</summary>
        public static Operand Text(string exact, string folded) => new(exact, folded, null, null, null, $"({exact} IS NOT NULL AND {exact} <> '')");
    }

    /// <summary>Where the values of one multi-valued attribute come from, for filters inside brackets.</summary>
    private abstract record Element
    {
        public abstract Operand? Sub(SchemaAttribute sub);
    }

    /// <summary>
    /// One element of a jsonb array, iterated in the folded document with its ordinality; its exact and instant
    /// forms are read by index from the other two documents.
    /// </summary>
    private sealed record JsonElement(string Alias, string Path) : Element
    {
        public override Operand Sub(SchemaAttribute sub) => Of(sub.Name);

        public Operand Of(string? sub)
        {
            var key = sub is null ? "" : $" -> '{sub}'";
            var index = $"({Alias}.i::int - 1)";
            return Operand.Json($"(({Document} #> {Path}) -> {index}{key})", $"({Alias}.v{key})", $"((r.instants #> {Path}) -> {index}{key})");
        }
    }

    private sealed record MemberElement(string Alias) : Element
    {
        public override Operand? Sub(SchemaAttribute sub) => sub.Name switch
        {
            // Member ids are resource ids, which the server generates in lower case: their folded form is themselves.
            "value" => Operand.Text($"{Alias}.member_id", $"{Alias}.member_id"),
            "type" => Operand.Text($"{Alias}.member_type", $"{Alias}.type_fold"),
            "display" => Operand.Text($"{Alias}.display", $"{Alias}.display_fold"),
            _ => null, // $ref is computed from the request's base URL; the store cannot filter on it
        };
    }

    /// <summary>One of a user's groups, direct or indirect, as PostgresGroupReach computes them for User.groups.</summary>
    private sealed record GroupElement(string Alias) : Element
    {
        public override Operand? Sub(SchemaAttribute sub) => sub.Name switch
        {
            "value" => Operand.Text($"{Alias}.id", $"{Alias}.id"),
            "display" => Operand.Text($"{Alias}.display", $"{Alias}.display_fold"),
            // Both words are already folded (lower case ASCII).
            "type" => Operand.Text(Type, Type),
            _ => null,
        };

        private string Type => $"(CASE WHEN {Alias}.indirect THEN 'indirect' ELSE 'direct' END)";
    }

    private string NextAlias(string prefix) => prefix + (++_aliases).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static bool IsMembers(ResolvedAttribute a) => a.ContainerUrn is null && a.Schema.Id == Protocol.Messages.ScimSchemaUris.Group && a.Attribute.Name == "members";

    private static bool IsGroups(ResolvedAttribute a) => a.ContainerUrn is null && a.Schema.Id == Protocol.Messages.ScimSchemaUris.User && a.Attribute.Name == "groups";

    /// <summary>The path of an attribute (or one of its sub-attributes) in the documents, as a text[] parameter.</summary>
    private string PathOf(ResolvedAttribute a, bool withSub)
    {
        var parts = new List<string>(3);
        if (a.ContainerUrn is not null) parts.Add(a.ContainerUrn);
        parts.Add(a.Attribute.Name);
        if (withSub && a.SubAttribute is not null) parts.Add(a.SubAttribute.Name);
        return Param(parts.ToArray()) + "::text[]";
    }

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
            return (new GroupElement(g), $"({PostgresGroupReach.Groups("m0.member_id = r.id")}) {g} WHERE true");
        }
        var e = NextAlias("e");
        var path = PathOf(a, withSub: false);
        return (new JsonElement(e, path), $"jsonb_array_elements(scimsync_array(r.folded #> {path})) WITH ORDINALITY {e}(v, i) WHERE true");
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

    private static Operand ColumnOperand((string Sql, bool Folded, bool Ticks) col) => col.Ticks
        ? new Operand(null, null, null, null, col.Sql, "true")
        : col.Folded
            ? new Operand(null, col.Sql, null, null, null, $"({col.Sql} IS NOT NULL AND {col.Sql} <> '')")
            : Operand.Text(col.Sql, col.Sql);

    private string Present(ResolvedAttribute a, Element? element)
    {
        if (element is not null) return element.Sub(a.Target)?.Presence ?? "false";
        if (a.Schema.Id == CommonAttributes.SchemaId && a.Attribute.Name is "id" or "meta") return "true";
        if (a.Attribute.Name == "schemas" && a.Schema.Id == CommonAttributes.SchemaId) return "true";
        if (Column(a) is { } col) return ColumnOperand(col).Presence;
        if (IsMembers(a) || IsGroups(a))
        {
            var (el, from) = Iterate(a);
            var cond = a.SubAttribute is null ? "true" : el.Sub(a.SubAttribute)?.Presence ?? "false";
            return $"EXISTS (SELECT 1 FROM {from} AND {cond})";
        }
        if (a.Attribute.MultiValued)
        {
            var (el, from) = Iterate(a);
            var json = (JsonElement)el;
            return $"EXISTS (SELECT 1 FROM {from} AND {json.Of(a.SubAttribute?.Name).Presence})";
        }
        // Stored documents never hold null, "" objects or empty arrays for complex values (they are
        // normalised away on write), so presence of a complex value is presence of a non-empty node.
        return $"scimsync_present({Document} #> {PathOf(a, withSub: true)})";
    }

    private string Comparison(BoundComparison c, Element? element)
    {
        var a = c.Attribute;
        if (element is not null)
            return element.Sub(a.Target) is { } sub ? Predicate(sub, c, indexed: false) : "false";
        if (Column(a) is { } col) return Predicate(ColumnOperand(col), c, indexed: true);

        if (IsMembers(a) || IsGroups(a))
        {
            // "members.value eq X" must not scan every group: an IN over the member index does not.
            if (IsMembers(a) && a.SubAttribute?.Name == "value" && c.Operator == ComparisonOperator.Eq)
                return $"r.seq IN (SELECT group_seq FROM group_members WHERE member_id = {Param(c.Value.Text!)})";
            if (IsGroups(a) && a.SubAttribute?.Name == "value" && c.Operator == ComparisonOperator.Eq)
                return $"r.id IN ({PostgresGroupReach.UsersIn(Param(c.Value.Text!))})";
            var (el, from) = Iterate(a);
            return el.Sub(a.Target) is { } sub ? $"EXISTS (SELECT 1 FROM {from} AND {Predicate(sub, c, indexed: false)})" : "false";
        }

        if (a.Attribute.MultiValued)
        {
            if (IndexedMultiValue(c))
            {
                var attr = Param(a.Attribute.Name + "." + a.SubAttribute!.Name);
                var folded = new Operand(null, "v.value_fold", null, null, null, "true");
                return $"r.seq IN (SELECT v.seq FROM resource_values v WHERE v.attr = {attr} AND {Predicate(folded, c, indexed: true)})";
            }
            var (el, from) = Iterate(a);
            return $"EXISTS (SELECT 1 FROM {from} AND {Predicate(((JsonElement)el).Of(a.SubAttribute?.Name), c, indexed: false)})";
        }
        var path = PathOf(a, withSub: true);
        return Predicate(Operand.Json($"({Document} #> {path})", $"(r.folded #> {path})", $"(r.instants #> {path})"), c, indexed: false);
    }

    private static bool IndexedMultiValue(BoundComparison c)
    {
        var a = c.Attribute;
        return a.Attribute.MultiValued && a.SubAttribute is not null && a.ContainerUrn is null && !a.Target.CaseExact && a.Target.Type == AttributeType.String
            && c.Operator is ComparisonOperator.Eq or ComparisonOperator.Sw
            && PostgresSchema.IndexedMultiValues.Contains((a.Attribute.Name, a.SubAttribute.Name))
            && a.Schema.Id == Protocol.Messages.ScimSchemaUris.User;
    }

    /// <summary>
    /// What a filter costs in the SQL that <see cref="Compile(BoundFilter)"/> writes, mirroring its choices term by
    /// term (keep the two together). The choices are SqliteFilterCompiler's, so both stores report the same costs
    /// (QueryCostTests runs against both).
    /// </summary>
    public static (int Unindexed, bool Narrowed) Cost(BoundFilter filter) => filter switch
    {
        BoundConstant c => (0, !c.Value),
        BoundAnd a => Combine(Cost(a.Left), Cost(a.Right), and: true),
        BoundOr o => Combine(Cost(o.Left), Cost(o.Right), and: false),
        BoundNot n => (Cost(n.Inner).Unindexed, false),
        BoundPresent p => (Column(p.Attribute) is null && !AlwaysPresent(p.Attribute) ? 1 : 0, false),
        BoundComparison c => (Column(c.Attribute) is null && !UsesIndex(c) ? 1 : 0, UsesIndex(c)),
        // Every element of every candidate (or its member rows), and each inner term for every value.
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

    /// <summary>Columns with an index after the type (PostgresSchema): r.created and r.type narrow nothing within a type.</summary>
    private static readonly HashSet<string> IndexedColumns = ["r.id", "r.external_id", "r.modified", "r.user_name_key", "r.display_name_fold"];

    private static bool AlwaysPresent(ResolvedAttribute a) =>
        a.Schema.Id == CommonAttributes.SchemaId && a.Attribute.Name is "id" or "meta" or "schemas";

    private static bool UsesIndex(BoundComparison c)
    {
        var a = c.Attribute;
        var rangeable = c.Operator is ComparisonOperator.Eq or ComparisonOperator.Gt or ComparisonOperator.Ge or ComparisonOperator.Lt or ComparisonOperator.Le
            || (c.Operator == ComparisonOperator.Sw && c.Value.Text is { Length: > 0 } text && PrefixRange.UpperBound(text) is not null);
        if (Column(a) is { } col) return rangeable && IndexedColumns.Contains(col.Sql);
        if ((IsMembers(a) || IsGroups(a)) && a.SubAttribute?.Name == "value" && c.Operator == ComparisonOperator.Eq) return true;
        return IndexedMultiValue(c);
    }

    /// <param name="indexed">Write prefix matches as ranges so that a btree on the expression applies.</param>
    private string Predicate(Operand o, BoundComparison c, bool indexed)
    {
        var v = c.Value;
        switch (v.Type)
        {
            case AttributeType.Boolean:
                return o.Boolean is null ? "false" : $"({o.Boolean} = {(v.Boolean ? "true" : "false")})";
            case AttributeType.Integer:
            case AttributeType.Decimal:
                return o.Number is null ? "false" : $"({o.Number} {Op(c.Operator)} {Param(v.Number)})";
            case AttributeType.DateTime:
                return o.Ticks is null ? "false" : $"({o.Ticks} {Op(c.Operator)} {Param(v.Instant.UtcTicks)})";
        }
        var text = v.Text ?? "";
        var side = v.CaseExact ? o.Exact : o.Folded;
        if (side is null) return "false";
        var l = $"({side} COLLATE \"C\")";
        switch (c.Operator)
        {
            case ComparisonOperator.Co:
                return $"(strpos({l}, {Param(text)}) > 0)";
            case ComparisonOperator.Sw:
                if (indexed && text.Length > 0 && PrefixRange.UpperBound(text) is { } upper)
                    return $"({l} >= {Param(text)} AND {l} < {Param(upper)})";
                return $"starts_with({l}, {Param(text)})";
            case ComparisonOperator.Ew:
                if (text.Length == 0) return $"({l} IS NOT NULL)";
                var p = Param(text);
                return $"(right({l}, length({p})) = {p})";
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

    /// <summary>A positional parameter ($1, $2, …) in the order added.</summary>
    public string Param(object value)
    {
        _parameters.Add(new NpgsqlParameter { Value = value });
        return "$" + _parameters.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// An ORDER BY key for one resource type's sort attribute (RFC 7644 §3.4.2.3), and its SQL type, so that a root
    /// query sorting several types by keys of different types can compare them as text.
    /// </summary>
    public (string Sql, string Type)? SortKey(ResolvedAttribute a)
    {
        if (Column(a) is { } col) return (col.Ticks ? col.Sql : $"({col.Sql} COLLATE \"C\")", col.Ticks ? "bigint" : "text");
        if (IsMembers(a) || IsGroups(a)) return null;
        Operand value;
        string? multiPath = null;
        if (a.Attribute.MultiValued)
        {
            // The primary value, else the first one.
            multiPath = PathOf(a, withSub: false);
            var sub = a.Attribute.IsComplex ? a.SubAttribute?.Name ?? (a.Attribute.FindSubAttribute("value") is not null ? "value" : null) : null;
            value = new JsonElement("e", multiPath).Of(sub);
        }
        else
        {
            var path = PathOf(a, withSub: true);
            value = Operand.Json($"({Document} #> {path})", $"(r.folded #> {path})", $"(r.instants #> {path})");
        }
        var (expr, type) = a.Target.Type switch
        {
            AttributeType.DateTime => (value.Ticks!, "bigint"),
            AttributeType.Integer or AttributeType.Decimal => (value.Number!, "numeric"),
            AttributeType.Boolean => (value.Boolean!, "boolean"),
            _ => ($"({(a.Target.CaseExact ? value.Exact : value.Folded)} COLLATE \"C\")", "text"),
        };
        if (multiPath is null) return (expr, type);
        var primary = a.Attribute.IsComplex ? "coalesce(e.v -> 'primary' = 'true'::jsonb, false) DESC, " : "";
        return ($"(SELECT {expr} FROM jsonb_array_elements(scimsync_array(r.folded #> {multiPath})) WITH ORDINALITY e(v, i) ORDER BY {primary}e.i LIMIT 1)", type);
    }
}
