using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;

namespace ScimSync.Protocol.Filtering;

/// <summary>Binds a parsed filter to a resource type (see <see cref="BoundFilter"/> for the rules).</summary>
public static class FilterBinder
{
    /// <param name="strict">
    /// True on a single resource type endpoint: an unknown attribute is 400 invalidFilter. False for root
    /// queries across types, where an attribute a type does not define simply has no value there.
    /// </param>
    public static BoundFilter Bind(ScimFilter filter, ResourceTypeDefinition rt, SchemaRegistry registry, bool strict)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(rt);
        ArgumentNullException.ThrowIfNull(registry);
        return new Binder(rt, registry, strict).Bind(filter, owner: null);
    }

    /// <param name="owner">The multi-valued attribute whose "[...]" is being bound, or null at the top level.</param>
    private sealed class Binder(ResourceTypeDefinition rt, SchemaRegistry registry, bool strict)
    {
        public BoundFilter Bind(ScimFilter filter, ResolvedAttribute? owner) => filter switch
        {
            AndFilter a => new BoundAnd(Bind(a.Left, owner), Bind(a.Right, owner)),
            OrFilter o => new BoundOr(Bind(o.Left, owner), Bind(o.Right, owner)),
            NotFilter n => new BoundNot(Bind(n.Inner, owner)),
            PresentFilter p => BindPresent(p.Path, owner),
            ComparisonFilter c => BindComparison(c, owner),
            ValuePathFilter v => BindValuePath(v, owner),
            _ => throw new ArgumentOutOfRangeException(nameof(filter), filter.GetType().Name, "Unknown filter node"),
        };

        private BoundFilter BindPresent(AttributePath path, ResolvedAttribute? owner)
        {
            var attr = Resolve(path, owner);
            if (attr is null) return new BoundConstant(false);
            EnsureFilterable(attr);
            return new BoundPresent(attr);
        }

        private BoundFilter BindComparison(ComparisonFilter c, ResolvedAttribute? owner)
        {
            if (c.Value.Kind == FilterValueKind.Null)
            {
                // "eq null" asks whether the attribute is unassigned, which is exactly "not pr"; handling
                // it before the complex-attribute shorthand lets `name eq null` mean what it says.
                return c.Operator switch
                {
                    ComparisonOperator.Eq => new BoundNot(BindPresent(c.Path, owner)),
                    ComparisonOperator.Ne => BindPresent(c.Path, owner),
                    _ => throw ScimException.InvalidFilter(
                        $"\"{c.Path} {Name(c.Operator)} null\": null can only be compared with eq or ne"),
                };
            }

            var attr = Resolve(c.Path, owner);
            if (attr is null)
            {
                // Unknown here means "has no value", so ne holds just as it does for an unset attribute.
                BoundFilter none = new BoundConstant(false);
                return c.Operator == ComparisonOperator.Ne ? new BoundNot(none) : none;
            }
            EnsureFilterable(attr);
            attr = UseValueOfComplex(attr);
            var op = c.Operator == ComparisonOperator.Ne ? ComparisonOperator.Eq : c.Operator;
            var value = Convert(attr, c.Operator, op, c.Value);
            var comparison = new BoundComparison(attr, op, value);
            return c.Operator == ComparisonOperator.Ne ? new BoundNot(comparison) : comparison;
        }

        private BoundFilter BindValuePath(ValuePathFilter v, ResolvedAttribute? owner)
        {
            if (owner is not null)
                throw ScimException.InvalidFilter($"\"{v.Path}[...]\" is nested inside \"{owner.CanonicalPath}[...]\"; brackets cannot nest");
            var attr = Resolve(v.Path, null);
            if (attr is null) return new BoundConstant(false);
            if (attr.SubAttribute is not null || !attr.Attribute.IsComplex || !attr.Attribute.MultiValued)
                throw ScimException.InvalidFilter(
                    $"\"{v.Path}\" is not a multi-valued complex attribute, so it cannot be filtered with [...]");
            EnsureFilterable(attr);
            return new BoundValuePath(attr, Bind(v.Inner, attr));
        }

        /// <returns>The definition, or null for an unknown attribute when not strict.</returns>
        private ResolvedAttribute? Resolve(AttributePath path, ResolvedAttribute? owner)
        {
            if (owner is not null)
            {
                if (path.SchemaUrn is not null || path.SubAttribute is not null)
                    throw ScimException.InvalidFilter(
                        $"\"{path}\" inside \"{owner.CanonicalPath}[...]\" must be the bare name of one of its sub-attributes{Example(owner.Attribute)}");
                var sub = owner.Attribute.FindSubAttribute(path.Name);
                if (sub is not null) return owner with { SubAttribute = sub };
                return strict
                    ? throw ScimException.InvalidFilter($"Unknown attribute \"{path.Name}\": \"{owner.CanonicalPath}\" has no such sub-attribute")
                    : null;
            }

            ResolvedAttribute? resolved;
            try
            {
                resolved = registry.Resolve(rt, path);
            }
            catch (ScimException e) when (e.ScimType == ScimErrorType.InvalidPath)
            {
                // The registry speaks for PATCH paths too; in a filter the same mistake is a bad filter.
                throw ScimException.InvalidFilter(e.Detail);
            }
            if (resolved is null && strict)
                throw ScimException.InvalidFilter($"Unknown attribute \"{path}\": the {rt.Name} resource type does not define it");
            return resolved;
        }

        /// <summary>A value that is never returned must not be probed either: a filter would leak it bit by bit.</summary>
        private static void EnsureFilterable(ResolvedAttribute attr)
        {
            if (attr.Attribute.Returned == Returned.Never || attr.Target.Returned == Returned.Never)
                throw ScimException.InvalidFilter($"\"{attr.CanonicalPath}\" is never returned, so it is not filterable");
        }

        /// <summary>
        /// RFC 7644's own example <c>emails co "example.com"</c> compares a complex attribute directly; for
        /// multi-valued attributes with a "value" sub-attribute that can only mean <c>emails.value</c>.
        /// </summary>
        private static ResolvedAttribute UseValueOfComplex(ResolvedAttribute attr)
        {
            if (attr.Target.Type != AttributeType.Complex) return attr;
            if (attr.Attribute.MultiValued && attr.Attribute.FindSubAttribute("value") is { } value)
                return attr with { SubAttribute = value };
            var example = attr.Attribute.SubAttributes.Count > 0 ? $", e.g. \"{attr.CanonicalPath}.{attr.Attribute.SubAttributes[0].Name}\"" : "";
            throw ScimException.InvalidFilter(
                $"\"{attr.CanonicalPath}\" is a complex attribute; compare one of its sub-attributes instead{example}");
        }

        private static string Example(SchemaAttribute complex) =>
            complex.SubAttributes.Count > 0 ? $", such as \"{complex.SubAttributes[0].Name}\"" : "";

        /// <summary>A User's userName: compared the way its uniqueness is enforced (RFC 8265), in every filter.</summary>
        private static bool IsIdentifier(ResolvedAttribute attr) =>
            attr.Schema.Id == Messages.ScimSchemaUris.User && attr.ContainerUrn is null && attr.SubAttribute is null && attr.Attribute.Name == "userName";

        /// <param name="written">The operator as the client wrote it, for messages.</param>
        /// <param name="op">The operator after rewriting (ne is eq here).</param>
        private static BoundValue Convert(ResolvedAttribute attr, ComparisonOperator written, ComparisonOperator op, FilterValue value)
        {
            var target = attr.Target;
            var path = attr.CanonicalPath;
            switch (target.Type)
            {
                case AttributeType.String or AttributeType.Reference or AttributeType.Binary:
                {
                    if (target.Type == AttributeType.Binary && IsOrdering(op))
                        throw NotDefined(written, "binary", path);
                    if (value.Kind != FilterValueKind.String) throw Mismatch(path, target.Type, "a string in double quotes", value);
                    var text = value.Text ?? "";
                    if (IsIdentifier(attr)) return new BoundValue(target.Type, ScimText.UniquenessKey(text), 0, false, default) { Identifier = true };
                    return target.CaseExact
                        ? new BoundValue(target.Type, text, 0, false, default) { CaseExact = true }
                        : new BoundValue(target.Type, ScimText.Fold(text), 0, false, default) { CaseExact = false };
                }
                case AttributeType.DateTime:
                {
                    if (IsSubstring(op)) throw NotDefined(written, "dateTime", path);
                    // Same parser as write-time validation and the evaluator: one definition of a dateTime.
                    if (value.Kind != FilterValueKind.String || !ValueCoercer.TryParseDateTime(value.Text ?? "", out var instant))
                        throw Mismatch(path, target.Type, "a date and time in double quotes, such as \"2011-05-13T04:42:34Z\"", value);
                    return new BoundValue(AttributeType.DateTime, value.Text, 0, false, instant);
                }
                case AttributeType.Boolean:
                {
                    if (op != ComparisonOperator.Eq) throw NotDefined(written, "boolean", path, "only eq and ne are");
                    if (value.Kind != FilterValueKind.Boolean) throw Mismatch(path, target.Type, "true or false", value);
                    return new BoundValue(AttributeType.Boolean, null, 0, value.Boolean, default);
                }
                case AttributeType.Integer or AttributeType.Decimal:
                {
                    if (IsSubstring(op)) throw NotDefined(written, TypeName(target.Type), path);
                    if (value.Kind != FilterValueKind.Number) throw Mismatch(path, target.Type, "a number", value);
                    // A fractional value against an integer attribute is still a meaningful numeric bound.
                    return new BoundValue(target.Type, null, value.Number, false, default);
                }
                default:
                    throw ScimException.InvalidFilter($"\"{path}\" cannot be compared");
            }
        }

        private static bool IsOrdering(ComparisonOperator op) =>
            op is ComparisonOperator.Gt or ComparisonOperator.Ge or ComparisonOperator.Lt or ComparisonOperator.Le;

        private static bool IsSubstring(ComparisonOperator op) =>
            op is ComparisonOperator.Co or ComparisonOperator.Sw or ComparisonOperator.Ew;

        private static string Name(ComparisonOperator op) => op.ToString().ToLowerInvariant();

        private static ScimException NotDefined(ComparisonOperator op, string type, string path, string? hint = null) =>
            ScimException.InvalidFilter(
                $"The operator \"{Name(op)}\" is not defined for the {type} attribute \"{path}\"" + (hint is null ? "" : $"; {hint}"));

        private static ScimException Mismatch(string path, AttributeType type, string expected, FilterValue value) =>
            ScimException.InvalidFilter(
                $"\"{path}\" is of type {TypeName(type)}; expected {expected} but found {value}");

        // The RFC 7643 spelling ("dateTime"), which is what clients see in /Schemas.
        private static string TypeName(AttributeType type)
        {
            var s = type.ToString();
            return char.ToLowerInvariant(s[0]) + s[1..];
        }
    }
}
