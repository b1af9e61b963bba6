using System.Text.Json.Nodes;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Schemas;
using ScimSync.Sync.Accounts;
using ScimSync.Sync.Correlation;
using ScimSync.Sync.Mapping;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Scoping;
using ScimSync.Sync.Sources;
using ScimSync.Sync.Guard;

namespace ScimSync.Sync.Configuration;

/// <summary>
/// Reads the engine's YAML (or JSON, which is YAML too) configuration. Every mistake is reported with the
/// file, line, column and setting path; nothing is guessed. docs/sync.md documents each setting.
/// </summary>
public static class ConfigLoader
{
    public static SyncConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigException($"{path}: no such file");
        using var reader = File.OpenText(path);
        var config = Parse(reader, path);
        // Relative paths are relative to the file, not to wherever the engine was started.
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        return config with
        {
            StateDirectory = Path.GetFullPath(config.StateDirectory, dir),
            KeyFile = config.KeyFile is null ? null : Path.GetFullPath(config.KeyFile, dir),
            Source = config.Source.FilePath is null ? config.Source : config.Source with { FilePath = Path.GetFullPath(config.Source.FilePath, dir) },
        };
    }

    public static SyncConfig Parse(TextReader reader, string file)
    {
        var root = ConfigNode.Load(reader, file);
        var state = root.Child("state")?.Text() ?? "./scimsync-sync";
        var keyFile = root.Child("keyFile")?.Text();
        var source = ReadSource(root.Required("source"));
        var kinds = ReadKinds(root.Child("accountKinds"));
        var targetsNode = root.Required("targets");
        var targets = targetsNode.Items().Select(ReadTarget).ToArray();
        if (targets.Length == 0) throw targetsNode.Error("at least one target is required");
        foreach (var dup in targets.GroupBy(t => t.Name, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
            throw targetsNode.Error($"target name \"{dup.Key}\" is used twice");
        if (targets.Any(t => t.Passwords == PasswordPolicy.Sync))
        {
            // Passwords come sealed through the engine's feed subscription at a ScimSync source; a file has none.
            if (source.Type == SourceType.File)
                throw targetsNode.Error("passwords: sync needs a SCIM source (scimsync serve): an HR file source has no passwords");
            if (source.Feed != FeedMode.Poll || source.Changes is not null)
                throw targetsNode.Error("passwords: sync needs source.feed: poll (passwords come through the engine's feed subscription, not lastModified queries or a NATS stream)");
        }
        var health = HealthConfig.Default;
        if (root.Child("health") is { } h)
        {
            health = new HealthConfig(h.Child("unreachableFor")?.Duration() ?? health.UnreachableFor, h.Child("heldFor")?.Duration() ?? health.HeldFor,
                h.Child("queueAge")?.Duration() ?? health.QueueAge);
            h.RejectUnknownKeys();
        }
        var log = LogConfig.Default;
        if (root.Child("log") is { } l)
        {
            // Days, not a duration: retention is counted in days, past the 30 days a duration may say.
            if (l.Child("keepDays")?.Int(1, 36_500) is { } days) log = new LogConfig(TimeSpan.FromDays(days));
            l.RejectUnknownKeys();
        }
        var console = root.Child("console") is { } c ? ReadConsole(c) : null;
        root.RejectUnknownKeys();
        return new SyncConfig(state, source, kinds, targets) { KeyFile = keyFile, Health = health, Log = log, Console = console };
    }

    private static ConsoleConfig ReadConsole(ConfigNode n)
    {
        var peopleNode = n.Required("people");
        var people = peopleNode.Items().Select(p =>
        {
            var name = p.Required("name").Text().Trim();
            if (name.Length is 0 or > 64) throw p.Error("a console person's name is 1 to 64 characters");
            var tokenNode = p.Required("token");
            var token = tokenNode.Text();
            if (token.Length < ConsoleConfig.MinimumTokenLength)
                throw tokenNode.Error($"a console token is at least {ConsoleConfig.MinimumTokenLength} characters (write it as ${{ENV_NAME}}, never in the file)");
            var person = new ConsolePerson(name, p.Required("role").Enum<ConsoleRole>(), token);
            p.RejectUnknownKeys();
            return person;
        }).ToArray();
        if (people.Length == 0) throw peopleNode.Error("at least one person is required");
        foreach (var dup in people.GroupBy(p => p.Name, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
            throw peopleNode.Error($"console person \"{dup.Key}\" is named twice");
        foreach (var dup in people.GroupBy(p => p.Token, StringComparer.Ordinal).Where(g => g.Count() > 1))
            throw peopleNode.Error("two console people share a token: each person signs in with their own, so decisions name who made them");
        n.RejectUnknownKeys();
        return new ConsoleConfig(people);
    }

    private static SourceConfig ReadSource(ConfigNode n)
    {
        var type = n.Required("type").Enum<SourceType>();
        EndpointConfig? endpoint = null;
        string? file = null;
        var format = FileFormat.Csv;
        if (type == SourceType.Scim)
        {
            endpoint = ReadEndpoint(n);
        }
        else
        {
            file = n.Required("path").Text();
            format = n.Child("format")?.Enum<FileFormat>() ?? (file.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? FileFormat.Json : FileFormat.Csv);
        }
        var feed = n.Child("feed")?.Enum<FeedMode>() ?? FeedMode.Poll;
        var poll = n.Child("pollInterval")?.Duration() ?? TimeSpan.FromSeconds(1);
        var full = n.Child("fullCompareInterval")?.Duration() ?? TimeSpan.FromHours(1);
        var changes = n.Child("changes") is { } c ? ReadStreamChanges(c, type, feed) : null;
        n.RejectUnknownKeys();
        return new SourceConfig(type, endpoint, file, format, feed, poll, full) { Changes = changes };
    }

    /// <summary><c>changes: { nats: URL, stream: NAME, subjects: PREFIX }</c>, for a SCIM source whose server relays its journal.</summary>
    private static StreamChangesConfig ReadStreamChanges(ConfigNode n, SourceType type, FeedMode feed)
    {
        if (type != SourceType.Scim) throw n.Error("a file source has no journal to stream; \"changes\" is for a SCIM source");
        if (feed != FeedMode.Poll) throw n.Error("takes the place of the source's event feed: it cannot go with feed: lastModified");
        var urlNode = n.Required("nats");
        var url = urlNode.Text();
        if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme is not ("nats" or "tls" or "ws" or "wss") || u.Host.Length == 0)
            throw urlNode.Error("expected a NATS URL such as nats://127.0.0.1:4222");
        var stream = n.Child("stream")?.Text() ?? ScimSync.Events.EventStream.DefaultStream;
        var prefix = n.Child("subjects")?.Text() ?? ScimSync.Events.EventStream.DefaultSubjectPrefix;
        n.RejectUnknownKeys();
        return new StreamChangesConfig(url, stream, prefix);
    }

    private static EndpointConfig ReadEndpoint(ConfigNode n)
    {
        var url = n.Required("url").Url();
        var auth = n.Child("auth") is { } a ? ReadAuth(a) : null;
        var limits = new LimitsConfig(null, null, 8);
        if (n.Child("limits") is { } l)
        {
            limits = new LimitsConfig(l.Child("maxPageSize")?.Int(1, 100_000), l.Child("maxRequestsPerSecond")?.Number(0.1, 1_000_000),
                l.Child("concurrency")?.Int(1, 256) ?? 8, l.Child("maxResponseMiB")?.Int(1, 4096) ?? 64,
                l.Child("maxListResources")?.Int(1, 100_000_000) ?? 5_000_000, l.Child("maxListPages")?.Int(1, 10_000_000) ?? 100_000,
                l.Child("readTimeout")?.Duration(), l.Child("runTimeout")?.Duration());
            l.RejectUnknownKeys();
        }
        var dialect = new DialectConfig(false, false, false);
        if (n.Child("dialect") is { } d)
        {
            dialect = new DialectConfig(d.Child("usePut")?.Bool() ?? false, d.Child("disableBulk")?.Bool() ?? false, d.Child("disableCursor")?.Bool() ?? false,
                d.Child("memberRemoval")?.Enum<MemberRemoval>() ?? MemberRemoval.Filter);
            d.RejectUnknownKeys();
        }
        return new EndpointConfig(url, auth, limits, dialect);
    }

    private static AuthConfig ReadAuth(ConfigNode n)
    {
        var type = n.Required("type").Enum<AuthType>();
        AuthConfig auth = type switch
        {
            AuthType.Bearer => new AuthConfig(type, n.Required("token").Text(), null, null, null, null, null, null),
            AuthType.Basic => new AuthConfig(type, null, n.Required("user").Text(), n.Required("password").Text(), null, null, null, null),
            _ => new AuthConfig(type, null, null, null, n.Required("tokenUrl").Url(), n.Required("clientId").Text(), n.Required("clientSecret").Text(), n.Child("scope")?.Text()),
        };
        n.RejectUnknownKeys();
        return auth;
    }

    private static AccountKindRules ReadKinds(ConfigNode? n)
    {
        if (n is null) return AccountKindRules.Default;
        var table = new Dictionary<string, AccountKind>(AccountKindRules.Default.UserTypes, StringComparer.OrdinalIgnoreCase);
        if (n.Child("fromUserType") is { } map)
        {
            table.Clear();
            foreach (var (userType, kind) in map.Entries()) table[userType] = ReadKind(kind);
        }
        var endDate = n.Child("endDateAttribute")?.Text();
        n.RejectUnknownKeys();
        return new AccountKindRules(table, endDate);
    }

    private static AccountKind ReadKind(ConfigNode n)
    {
        var kind = n.Enum<AccountKind>();
        if (kind == AccountKind.Unknown) throw n.Error("\"unknown\" is not a kind an account can be given");
        return kind;
    }

    private static TargetConfig ReadTarget(ConfigNode n)
    {
        var name = n.Required("name").Text();
        if (name.Length == 0 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
            throw n.Required("name").Error("use letters, digits, '-' and '_' only");
        var endpoint = ReadEndpoint(n);
        var scope = n.Child("scope") is { } s ? ReadScope(s) : ScopeRule.Everyone;
        var mapping = n.Child("mapping") is { } m ? ReadMapping(m) : AttributeMapping.Defaults;
        var correlation = n.Child("correlation")?.Items().Select(i => i.Enum<CorrelationKey>()).ToArray() ?? Correlator.Defaults;
        if (correlation.Count == 0) throw n.Required("correlation").Error("name at least one key (externalId, userName, email)");
        var protection = new ProtectionRule(new HashSet<AccountKind> { AccountKind.Builtin, AccountKind.Service }, new HashSet<string>(StringComparer.OrdinalIgnoreCase));
        if (n.Child("protected") is { } p)
        {
            var kindSet = new HashSet<AccountKind> { AccountKind.Builtin, AccountKind.Service };
            foreach (var k in p.Child("kinds")?.Items() ?? []) kindSet.Add(ReadKind(k));
            protection = new ProtectionRule(kindSet, (p.Child("userNames")?.TextList() ?? []).ToHashSet(StringComparer.OrdinalIgnoreCase));
            p.RejectUnknownKeys();
        }
        var policies = SyncPolicies.Default;
        if (n.Child("policies") is { } pol)
        {
            policies = new SyncPolicies(
                pol.Child("unmatched")?.Enum<UnmatchedReaction>() ?? policies.Unmatched,
                pol.Child("unlinked")?.Enum<UnlinkedReaction>() ?? policies.Unlinked,
                pol.Child("disputed")?.Enum<DisputedReaction>() ?? policies.Disputed,
                pol.Child("deleted")?.Enum<DeletedReaction>() ?? policies.Deleted,
                pol.Child("outOfScope")?.Enum<OutOfScopeReaction>() ?? policies.OutOfScope,
                pol.Child("drift")?.Enum<DriftReaction>() ?? policies.Drift);
            pol.RejectUnknownKeys();
        }
        var groups = GroupSyncConfig.None;
        if (n.Child("groups") is { } g)
        {
            var names = g.Child("names")?.TextList() ?? [];
            groups = new GroupSyncConfig(g.Child("all")?.Bool() ?? false, names.ToHashSet(StringComparer.Ordinal), g.Child("batchSize")?.Int(1, 10_000) ?? 500,
                g.Child("deleted")?.Enum<GroupDeletedReaction>() ?? GroupDeletedReaction.Delete)
            {
                Nested = g.Child("nested")?.Enum<NestedGroups>() ?? NestedGroups.Flatten,
            };
            g.RejectUnknownKeys();
        }
        var guard = MassChangeGuard.Default;
        if (n.Child("guard") is { } gd)
        {
            guard = new MassChangeGuard(Threshold(gd.Child("maxDeletes")) ?? guard.MaxDeletes, Threshold(gd.Child("maxDeactivations")) ?? guard.MaxDeactivations,
                gd.Child("floor")?.Int(0, 1_000_000) ?? guard.Floor, Threshold(gd.Child("maxShrink")), gd.Child("window")?.Duration());
            gd.RejectUnknownKeys();
        }
        var passwords = n.Child("passwords")?.Enum<PasswordPolicy>() ?? PasswordPolicy.Never;
        n.RejectUnknownKeys();
        var target = new TargetConfig(name, endpoint, scope, mapping, correlation, protection, policies, groups, guard) { Passwords = passwords };
        try
        {
            scope.Compile(SchemaRegistry.CreateDefault());
        }
        catch (ScimException e)
        {
            throw n.Required("scope").Required("filter").Error("not a valid SCIM filter: " + e.Detail);
        }
        return target;
    }

    private static Threshold? Threshold(ConfigNode? n)
    {
        if (n is null) return null;
        try
        {
            return Guard.Threshold.Parse(n.Text());
        }
        catch (FormatException e)
        {
            throw n.Error(e.Message);
        }
    }

    private static ScopeRule ReadScope(ConfigNode n)
    {
        var kinds = (n.Child("kinds")?.Items() ?? []).Select(ReadKind).ToHashSet();
        foreach (var k in kinds)
            if (AccountKindRules.IsProtectedKind(k)) throw n.Required("kinds").Error($"{k.ToString().ToLowerInvariant()} accounts are never provisioned (each application has its own)");
        // `include` added the named accounts to the scope, which people read as restricting it to them. Giving it
        // the other meaning silently would widen or narrow a target on upgrade without a word: refused instead.
        if (n.Peek("include") is { } include)
            throw include.Error("no longer accepted (it added the named accounts to the scope, which read as restricting it): " +
                "write `only: [...]` to restrict the scope to these userNames, or `also: [...]` to add them to it");
        var rule = new ScopeRule(kinds, n.Child("filter")?.Text(),
            (n.Child("groups")?.TextList() ?? []).ToHashSet(StringComparer.Ordinal),
            ScopeRule.Names(n.Child("only")?.TextList() ?? []),
            ScopeRule.Names(n.Child("also")?.TextList() ?? []),
            ScopeRule.Names(n.Child("exclude")?.TextList() ?? []));
        n.RejectUnknownKeys();
        return rule;
    }

    /// <summary>
    /// <c>mapping:</c> is a table of target attribute → source attribute; a value in single quotes inside the
    /// YAML string (<c>"'Employee'"</c>) is a constant. <c>defaults: true</c> keeps the built-in mappings and adds these.
    /// </summary>
    private static IReadOnlyList<AttributeMapping> ReadMapping(ConfigNode n)
    {
        var list = new List<AttributeMapping>();
        var keepDefaults = false;
        foreach (var (target, value) in n.Entries())
        {
            if (target == "defaults")
            {
                keepDefaults = value.Bool();
                continue;
            }
            if (target is "active" or "id" or "meta" or "schemas" or "password")
                throw value.Error($"\"{target}\" cannot be mapped: the engine manages it");
            list.Add(value.IsMapping ? ReadMappingEntry(target, value) : Mapped(target, value.Text()));
        }
        if (!keepDefaults) return list;
        return AttributeMapping.Defaults.Where(d => list.All(m => !m.Target.Equals(d.Target, StringComparison.OrdinalIgnoreCase))).Concat(list).ToArray();
    }

    private static AttributeMapping Mapped(string target, string text) =>
        text.Length >= 2 && text[0] == '\'' && text[^1] == '\''
            ? new AttributeMapping(target, null, JsonValue.Create(text[1..^1]))
            : new AttributeMapping(target, text, null);

    /// <summary>
    /// The long form of one mapping, for what the short form cannot say: <c>{source: PATH, secret: true}</c> (or
    /// <c>constant: VALUE</c>). A secret's values are never shown in the provisioning log or by <c>sync user</c>.
    /// </summary>
    private static AttributeMapping ReadMappingEntry(string target, ConfigNode n)
    {
        var source = n.Child("source");
        var constant = n.Child("constant");
        if ((source is null) == (constant is null)) throw n.Error("give either \"source\" (a source attribute path) or \"constant\"");
        var mapping = source is not null ? new AttributeMapping(target, source.Text(), null) : new AttributeMapping(target, null, JsonValue.Create(constant!.Text()));
        mapping = mapping with { Secret = n.Child("secret")?.Bool() ?? false };
        n.RejectUnknownKeys();
        return mapping;
    }
}
