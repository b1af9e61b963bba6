using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Patching;
using ScimSync.Protocol.Resources;
using ScimSync.Protocol.Schemas;
using ScimSync.Server.Security;
using ScimSync.Feed.Passwords;
using ScimSync.Store;
using ScimSync.Store.Passwords;
using ScimSync.Store.Journal;
using ScimSync.Store.Resources;

namespace ScimSync.Server.Resources;

/// <summary>
/// The write rules of RFC 7644 §3.3–3.6 over the storage port: one write session per request, uniqueness,
/// mutability, preconditions, membership and passwords. It does not know which database it runs on. A request
/// answers success only after its session's CommitAsync, which returns once the write is durable; a no-op
/// commits too, because the state it answers with may include other requests' writes committed with it.
/// </summary>
public sealed class ResourceService(IResourceStore store, ResourceShaper shaper, PatchEngine patcher, TimeProvider time, ChangeSignal? journalSignal = null)
{
    public SchemaRegistry Registry => shaper.Registry;

    /// <summary>
    /// Seals each new password for the subscriptions with the right to passwords, stored in the write's own
    /// transaction (docs/passwords.md); null: passwords are only hashed.
    /// </summary>
    public PasswordSealer? Passwords { get; init; }

    private async Task<IReadOnlyList<PendingPassword>> SealAsync(string id, string? password, CancellationToken ct) =>
        password is null || Passwords is null ? [] : await Passwords.SealAsync(id, password, ct).ConfigureAwait(false);

    /// <summary>
    /// Largest stored document (<see cref="ScimServerOptions.MaxResourceBytes"/>), checked after every
    /// create, replace and patch, so that neither Bulk nor a series of PATCH requests builds a resource the
    /// request limits would refuse. Group members are rows of their own and do not count.
    /// </summary>
    public long MaxDocumentBytes { get; init; } = 1024 * 1024;

    /// <summary>PBKDF2 iterations for each password hashed here (<see cref="ScimServerOptions.PasswordHashIterations"/>).</summary>
    public int PasswordHashIterations { get; init; } = PasswordHasher.DefaultIterations;

    private void CheckSize(ResourceTypeDefinition rt, JsonObject data)
    {
        var size = JsonSize.Of(data);
        if (size > MaxDocumentBytes)
            throw ScimException.TooLarge($"The {rt.Name} would be {size} bytes; this server keeps resources of at most {MaxDocumentBytes} bytes");
    }

    private DateTimeOffset Now()
    {
        // Millisecond precision: meta.lastModified is shown with milliseconds, and a client that filters
        // on "lastModified gt <value it saw>" must not see the same resource again.
        var t = time.GetUtcNow();
        return new DateTimeOffset(t.UtcTicks - t.UtcTicks % TimeSpan.TicksPerMillisecond, TimeSpan.Zero);
    }

    public async Task<WriteResult> CreateAsync(ResourceTypeDefinition rt, JsonObject body, WriteContext context, CancellationToken ct)
    {
        var data = shaper.ReadResource(body, rt);
        var requested = TopLevelNames(data);
        shaper.CheckInvariants(data, rt);
        ResourceShaper.CheckUserName(data, rt, null);
        var password = TakePassword(data);
        var members = TakeMembers(data);
        CheckSize(rt, data);
        var passwordHash = password is null ? null : PasswordHasher.Hash(password, PasswordHashIterations);
        // What does not depend on the database is prepared before taking the writer, which every write shares.
        var id = Guid.CreateVersion7().ToString();
        var attributes = ResourceDiff.ChangedAttributes(shaper, rt, new JsonObject(), data).ToList();
        var journalData = members is null ? data.ToJsonString() : null;
        var sealedPasswords = await SealAsync(id, password, ct).ConfigureAwait(false);
        await using var tx = await store.BeginWriteAsync(ct).ConfigureAwait(false);
        var memberRefs = members is null ? null : await ResolveMembersAsync(tx, null, members, null, ct).ConfigureAwait(false);
        await CheckUniquenessAsync(tx, rt, data, null, ct).ConfigureAwait(false);
        // Taken by the writer: commit order and meta.lastModified order agree, so "lastModified gt" misses nothing.
        var now = Now();
        var stored = await tx.InsertAsync(rt, id, data, memberRefs, passwordHash, now, ct).ConfigureAwait(false);
        if (memberRefs is { Count: > 0 }) attributes.Add("members");
        if (passwordHash is not null) attributes.Add("password");
        await tx.AppendJournalAsync(new JournalAppend(context.Txn, rt.Name, id, JournalOperation.Create, stored.Version, attributes,
            journalData ?? WithMembers(data, memberRefs), null, context.Actor, now) { Writer = context.Writer }, ct).ConfigureAwait(false);
        if (sealedPasswords.Count > 0) await tx.AddPendingPasswordsAsync(sealedPasswords, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        journalSignal?.Notify();
        return new WriteResult(stored with { Members = memberRefs ?? (rt.Name == "Group" ? [] : null), Groups = rt.Name == "User" ? [] : null }, true, requested);
    }

    public async Task<WriteResult> ReplaceAsync(ResourceTypeDefinition rt, string id, JsonObject body, string? ifMatch, WriteContext context, CancellationToken ct)
    {
        var data = shaper.ReadResource(body, rt);
        var requested = TopLevelNames(data);
        var password = TakePassword(data);
        var members = TakeMembers(data);
        var passwordHash = password is null ? null : PasswordHasher.Hash(password, PasswordHashIterations);
        var sealedPasswords = await SealAsync(id, password, ct).ConfigureAwait(false);
        await using var tx = await store.BeginWriteAsync(ct).ConfigureAwait(false);
        var existing = await tx.FindAsync(rt, id, new LoadOptions(Members: true, Groups: false), ct).ConfigureAwait(false)
            ?? throw ScimException.NotFound($"{rt.Name} {id} not found");
        CheckIfMatch(existing, ifMatch);
        var existingData = JsonNode.Parse(existing.Data)!.AsObject();
        shaper.MergeImmutable(data, existingData, rt);
        data = shaper.Normalize(data, rt);
        shaper.CheckInvariants(data, rt);
        ResourceShaper.CheckUserName(data, rt, existingData);
        CheckSize(rt, data);
        await CheckUniquenessAsync(tx, rt, data, id, ct).ConfigureAwait(false);
        // PUT replaces the member list too; a PUT without "members" leaves the group empty (RFC 7644 §3.5.1).
        IReadOnlyList<MemberRef>? memberRefs = rt.Name == "Group"
            ? await ResolveMembersAsync(tx, id, members ?? [], existing.Members, ct).ConfigureAwait(false)
            : null;
        var membersSame = memberRefs is null || SameMembers(memberRefs, existing.Members ?? []);
        if (JsonNode.DeepEquals(data, existingData) && membersSame && passwordHash is null)
        {
            await tx.CommitAsync(ct).ConfigureAwait(false); // nothing to write, but the state answered must be durable
            return new WriteResult(existing, false, requested);
        }
        var now = Now();
        var updated = await tx.UpdateAsync(existing, data, membersSame ? null : memberRefs, passwordHash, now, ct).ConfigureAwait(false);
        var attributes = ResourceDiff.ChangedAttributes(shaper, rt, existingData, data).ToList();
        if (!membersSame) attributes.Add("members");
        if (passwordHash is not null) attributes.Add("password");
        await tx.AppendJournalAsync(new JournalAppend(context.Txn, rt.Name, id, JournalOperation.Put, updated.Version, attributes,
            WithMembers(data, memberRefs), null, context.Actor, now) { Writer = context.Writer }, ct).ConfigureAwait(false);
        if (sealedPasswords.Count > 0) await tx.AddPendingPasswordsAsync(sealedPasswords, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        journalSignal?.Notify();
        return new WriteResult(updated with { Members = memberRefs ?? existing.Members }, true, requested);
    }

    public async Task<WriteResult> PatchAsync(ResourceTypeDefinition rt, string id, PatchRequest request, string? ifMatch, WriteContext context, CancellationToken ct)
    {
        request = WithoutEchoedId(request, id);
        var plan = rt.Name == "Group" ? MemberPatchPlan.For(request) : new MemberPatchPlan(request.Operations, [], false);
        await using var tx = await store.BeginWriteAsync(ct).ConfigureAwait(false);
        var existing = await tx.FindAsync(rt, id, new LoadOptions(Members: plan.RequiresFullMembers, Groups: false), ct).ConfigureAwait(false)
            ?? throw ScimException.NotFound($"{rt.Name} {id} not found");
        CheckIfMatch(existing, ifMatch);
        var existingData = JsonNode.Parse(existing.Data)!.AsObject();

        var working = existingData;
        if (plan.RequiresFullMembers && existing.Members is { Count: > 0 } current)
        {
            working = (JsonObject)existingData.DeepClone();
            working["members"] = new JsonArray(current.Select(m => (JsonNode)MemberNode(m)).ToArray());
        }
        var result = plan.Others.Count > 0
            ? patcher.Apply(working, rt, new PatchRequest(plan.Others))
            : new PatchResult(working, false, []);
        var data = result.Resource;
        var password = TakePassword(data);
        var passwordHash = password is null ? null : PasswordHasher.Hash(password, PasswordHashIterations);

        var membersChanged = false;
        IReadOnlyList<MemberRef>? fullMembers = null;
        if (plan.RequiresFullMembers && rt.Name == "Group")
        {
            var requestedMembers = TakeMembers(data) ?? [];
            fullMembers = await ResolveMembersAsync(tx, id, requestedMembers, existing.Members, ct).ConfigureAwait(false);
            membersChanged = !SameMembers(fullMembers, existing.Members ?? []);
        }
        foreach (var step in plan.Steps)
        {
            switch (step)
            {
                case ClearMembers:
                    membersChanged |= await tx.ClearMembersAsync(existing, ct).ConfigureAwait(false) > 0;
                    break;
                case RemoveMembers r:
                    membersChanged |= await tx.RemoveMembersAsync(existing, r.Ids, ct).ConfigureAwait(false) > 0;
                    break;
                case AddMembers a:
                    var refs = await ResolveMembersAsync(tx, id, a.Members, null, ct).ConfigureAwait(false);
                    membersChanged |= await tx.AddMembersAsync(existing, refs, ct).ConfigureAwait(false) > 0;
                    break;
            }
        }

        CheckSize(rt, data);
        var dataChanged = !JsonNode.DeepEquals(data, existingData);
        if (!dataChanged && !membersChanged && passwordHash is null)
        {
            await tx.CommitAsync(ct).ConfigureAwait(false); // nothing to write, but the state answered must be durable
            return new WriteResult(existing, false);
        }
        if (dataChanged)
        {
            ResourceShaper.CheckUserName(data, rt, existingData);
            await CheckUniquenessAsync(tx, rt, data, id, ct).ConfigureAwait(false);
        }
        var now = Now();
        var updated = await tx.UpdateAsync(existing, data, plan.RequiresFullMembers && membersChanged ? fullMembers : null, passwordHash, now, ct).ConfigureAwait(false);
        var attributes = result.ChangedAttributes.Where(a => a != "members").ToList();
        if (membersChanged) attributes.Add("members");
        // The patch names it already when it set it by path: once is enough.
        if (passwordHash is not null && !attributes.Contains("password", StringComparer.OrdinalIgnoreCase)) attributes.Add("password");
        await tx.AppendJournalAsync(new JournalAppend(context.Txn, rt.Name, id, JournalOperation.Patch, updated.Version, attributes,
            data.ToJsonString(), PatchRequestJson(request), context.Actor, now) { Writer = context.Writer }, ct).ConfigureAwait(false);
        var sealedPasswords = await SealAsync(id, password, ct).ConfigureAwait(false);
        if (sealedPasswords.Count > 0) await tx.AddPendingPasswordsAsync(sealedPasswords, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        journalSignal?.Notify();
        return new WriteResult(updated with { Members = null }, true);
    }

    public async Task DeleteAsync(ResourceTypeDefinition rt, string id, string? ifMatch, WriteContext context, CancellationToken ct)
    {
        await using var tx = await store.BeginWriteAsync(ct).ConfigureAwait(false);
        var existing = await tx.FindAsync(rt, id, LoadOptions.None, ct).ConfigureAwait(false)
            ?? throw ScimException.NotFound($"{rt.Name} {id} not found");
        CheckIfMatch(existing, ifMatch);
        var now = Now();
        var groups = await tx.DeleteAsync(existing, now, ct).ConfigureAwait(false);
        await tx.AppendJournalAsync(new JournalAppend(context.Txn, rt.Name, id, JournalOperation.Delete, existing.Version, [],
            null, null, context.Actor, now) { Writer = context.Writer }, ct).ConfigureAwait(false);
        // Groups that lost the member changed too; their consumers must hear of it (no lost change).
        var removal = PatchRequestJson(new PatchRequest([new PatchOperation(PatchOperationType.Remove,
            new PatchPath(new AttributePath(null, "members", null),
                new Protocol.Filtering.ComparisonFilter(new AttributePath(null, "value", null), Protocol.Filtering.ComparisonOperator.Eq, Protocol.Filtering.FilterValue.Of(id)), null), null)]));
        foreach (var (groupId, version) in groups)
            await tx.AppendJournalAsync(new JournalAppend(context.Txn, Registry.Group.Name, groupId, JournalOperation.Patch, version, ["members"],
                null, removal, context.Actor, now) { Writer = context.Writer }, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        journalSignal?.Notify();
    }

    /// <summary>The stored document plus the member list, as a create or PUT event carries it.</summary>
    private static string WithMembers(JsonObject data, IReadOnlyList<MemberRef>? members)
    {
        if (members is null) return data.ToJsonString();
        var copy = (JsonObject)data.DeepClone();
        if (members.Count > 0) copy["members"] = new JsonArray(members.Select(m => (JsonNode)MemberNode(m)).ToArray());
        return copy.ToJsonString();
    }

    /// <summary>
    /// The PatchOp as journaled. Passwords never reach the journal: an operation on <c>password</c> keeps
    /// its path but loses its value, and path-less values lose their "password" member.
    /// </summary>
    private static string PatchRequestJson(PatchRequest request) => new JsonObject
    {
        ["schemas"] = new JsonArray(Protocol.Messages.ScimSchemaUris.PatchOp),
        ["Operations"] = new JsonArray(request.Operations.Select(o =>
        {
            var op = new JsonObject { ["op"] = o.Op.ToString().ToLowerInvariant() };
            if (o.Path is not null) op["path"] = o.Path.ToString();
            var isPassword = o.Path is { ValueFilter: null } p && p.Attribute.Name.Equals("password", StringComparison.OrdinalIgnoreCase);
            if (o.Value is not null && !isPassword)
            {
                var value = o.Value.DeepClone();
                if (o.Path is null && value is JsonObject obj)
                    foreach (var key in obj.Select(kv => kv.Key).Where(k => k.Equals("password", StringComparison.OrdinalIgnoreCase) || k.EndsWith(":password", StringComparison.OrdinalIgnoreCase)).ToArray())
                        obj.Remove(key);
                op["value"] = value;
            }
            return (JsonNode)op;
        }).ToArray()),
    }.ToJsonString();

    /// <summary>
    /// Okta sends the resource's own id inside a path-less replace ({"op":"replace","value":{"id":"…",
    /// "displayName":"…"}}). Repeating the current id changes nothing, so it is dropped rather than
    /// rejected as a change to a readOnly attribute; a different id still is.
    /// </summary>
    private static PatchRequest WithoutEchoedId(PatchRequest request, string id)
    {
        if (!request.Operations.Any(o => o.Path is null && o.Value is JsonObject v && v.Any(kv => kv.Key.Equals("id", StringComparison.OrdinalIgnoreCase))))
            return request;
        var ops = new List<PatchOperation>();
        foreach (var op in request.Operations)
        {
            if (op.Path is null && op.Value is JsonObject v)
            {
                var key = v.FirstOrDefault(kv => kv.Key.Equals("id", StringComparison.OrdinalIgnoreCase));
                if (key.Key is not null && key.Value is JsonValue idValue && idValue.TryGetValue<string>(out var s) && s == id)
                {
                    var rest = (JsonObject)v.DeepClone();
                    rest.Remove(key.Key);
                    if (rest.Count > 0) ops.Add(op with { Value = rest });
                    continue;
                }
            }
            ops.Add(op);
        }
        return new PatchRequest(ops);
    }

    /// <summary>
    /// RFC 7644 §3.14 with RFC 7232 weak comparison: "*" matches any current version; a list matches
    /// when one entry matches.
    /// </summary>
    public static void CheckIfMatch(StoredResource existing, string? ifMatch)
    {
        if (string.IsNullOrWhiteSpace(ifMatch)) return;
        if (!ETagMatches(existing.ETag, ifMatch))
            throw ScimException.PreconditionFailed($"The resource has version {existing.ETag}, not {ifMatch.Trim()}");
    }

    public static bool ETagMatches(string current, string header)
    {
        foreach (var raw in header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (raw == "*") return true;
            if (Opaque(raw) == Opaque(current)) return true;
        }
        return false;
    }

    private static string Opaque(string tag) => tag.StartsWith("W/", StringComparison.Ordinal) ? tag[2..] : tag;

    /// <summary>Attribute names the client sent, core and extension, for returned=request (RFC 7643 §7).</summary>
    private static IReadOnlySet<string> TopLevelNames(JsonObject data) => data
        .SelectMany(kv => kv.Key.StartsWith("urn:", StringComparison.OrdinalIgnoreCase) && kv.Value is JsonObject ext
            ? ext.Select(e => e.Key)
            : [kv.Key])
        .ToHashSet(StringComparer.OrdinalIgnoreCase);

    private static string? TakePassword(JsonObject data)
    {
        if (data["password"] is not JsonValue v) return null;
        data.Remove("password");
        return v.GetValue<string>();
    }

    private static IReadOnlyList<RequestedMember>? TakeMembers(JsonObject data)
    {
        if (!data.ContainsKey("members")) return null;
        var node = data["members"];
        data.Remove("members");
        return MemberPatchPlan.ParseMembers(node);
    }

    private static JsonObject MemberNode(MemberRef m)
    {
        var o = new JsonObject { ["value"] = m.Value, ["type"] = m.Type };
        if (m.Display is not null) o["display"] = m.Display;
        return o;
    }

    /// <summary>
    /// Every member must be an existing User or Group; its type is taken from the store, not from the
    /// client. Members already in the group keep the display they were added with. A group may hold groups
    /// (nested groups, shown in User.groups as "indirect"), but never itself: a cycle through other groups is
    /// allowed and the reads bound it (GroupNesting), a group in itself is refused as meaningless.
    /// </summary>
    /// <param name="self">The group written, when it already exists.</param>
    private static async Task<IReadOnlyList<MemberRef>> ResolveMembersAsync(IWriteSession tx, string? self, IReadOnlyList<RequestedMember> members, IReadOnlyList<MemberRef>? existing, CancellationToken ct)
    {
        var known = existing?.ToDictionary(m => m.Value, StringComparer.Ordinal) ?? [];
        if (self is not null && members.Any(m => m.Value == self)) throw ScimException.InvalidValue($"Group \"{self}\" cannot be a member of itself");
        // The new ones are looked up together (one statement on PostgreSQL, not one per member); errors then name
        // the first offending member in the request's order.
        var types = await tx.FindResourceTypesAsync(members.Select(m => m.Value).Where(v => !known.ContainsKey(v)).Distinct(StringComparer.Ordinal).ToArray(), ct).ConfigureAwait(false);
        var result = new List<MemberRef>(members.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in members)
        {
            if (!seen.Add(m.Value)) continue;
            if (known.TryGetValue(m.Value, out var current))
            {
                result.Add(current with { Display = m.Display ?? current.Display });
                continue;
            }
            var type = types.GetValueOrDefault(m.Value) ?? throw ScimException.InvalidValue($"Member \"{m.Value}\" does not exist");
            if (m.Type is not null && !m.Type.Equals(type, StringComparison.OrdinalIgnoreCase))
                throw ScimException.InvalidValue($"Member \"{m.Value}\" is a {type}, not a {m.Type}");
            result.Add(new MemberRef(m.Value, type, m.Display));
        }
        return result;
    }

    private static bool SameMembers(IReadOnlyList<MemberRef> a, IReadOnlyList<MemberRef> b) =>
        a.Count == b.Count && a.OrderBy(m => m.Value, StringComparer.Ordinal).SequenceEqual(b.OrderBy(m => m.Value, StringComparer.Ordinal));

    /// <summary>Attributes other than userName marked uniqueness=server or global (operator extensions).</summary>
    private async Task CheckUniquenessAsync(IWriteSession tx, ResourceTypeDefinition rt, JsonObject data, string? exceptId, CancellationToken ct)
    {
        foreach (var (schema, urn) in shaper.SchemasOf(rt))
        {
            var container = ResourceShaper.Container(data, urn, create: false);
            if (container is null) continue;
            foreach (var attr in schema.Attributes)
            {
                if (attr.Uniqueness == Uniqueness.None || attr.MultiValued || attr.IsComplex) continue;
                if (urn is null && attr.Name == "userName" && rt.Name == "User") continue; // a unique index enforces it
                if (container[attr.Name] is not JsonValue v || !v.TryGetValue<string>(out var s)) continue;
                var resolved = new ResolvedAttribute(schema, urn, attr, null);
                if (await tx.ValueTakenAsync(rt, resolved, s, exceptId, ct).ConfigureAwait(false))
                    throw ScimException.Uniqueness($"{resolved.CanonicalPath} \"{s}\" is already taken");
            }
        }
    }
}
