using ScimSync.Sync.Accounts;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Planning;
using ScimSync.Sync.Guard;

namespace ScimSync.Sync.Tests.Configuration;

public class ConfigLoaderTests
{
    private static SyncConfig Parse(string yaml) => ConfigLoader.Parse(new StringReader(yaml), "test.yaml");

    private static string RepoFile(string relative)
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "ScimSync.slnx"))) dir = Path.GetDirectoryName(dir)!;
        return Path.Combine(dir, relative);
    }

    [Fact]
    public void The_shipped_field_scenario_example_loads()
    {
        foreach (var v in new[] { "HR_TOKEN", "HELPDESK_TOKEN", "SUPPORT_TOKEN", "EXPENSES_TOKEN" }) Environment.SetEnvironmentVariable(v, "t-" + v);
        var config = ConfigLoader.Load(RepoFile("docs/examples/field-scenario.yaml"));
        Assert.Equal(["helpdesk", "support", "expenses"], config.Targets.Select(t => t.Name));
        Assert.Equal("t-HR_TOKEN", config.Source.Endpoint!.Auth!.Token);
        Assert.True(Path.IsPathRooted(config.StateDirectory));
        var helpdesk = config.Targets[0];
        Assert.Equal(100, helpdesk.Endpoint.Limits.MaxPageSize);
        Assert.Equal(500, helpdesk.Endpoint.Limits.MaxRequestsPerSecond);
        Assert.Contains(AccountKind.Contractor, helpdesk.Scope.Kinds);
        Assert.True(config.Targets[1].Endpoint.Dialect.UsePut);
        Assert.Contains(AccountKind.Customer, config.Targets[1].Protected.Kinds);
        Assert.Contains(config.Targets[1].Mapping, m => m.Target.EndsWith(":department", StringComparison.Ordinal));
        Assert.Equal(new Threshold(5, true), config.Targets[2].Guard.MaxDeletes);
    }

    [Fact]
    public void The_guard_reads_its_shrink_limit_and_watch_window()
    {
        var config = Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
                guard: { maxDeletes: 5%, maxShrink: 200, window: 30m }
              - name: b
                url: http://127.0.0.1:3/scim/v2
            """);
        Assert.Equal(new Threshold(200, false), config.Targets[0].Guard.MaxShrink);
        Assert.Equal(TimeSpan.FromMinutes(30), config.Targets[0].Guard.WatchWindow);
        Assert.Null(config.Targets[1].Guard.MaxShrink); // the deletion limit then applies to reads too
        Assert.Equal(TimeSpan.FromHours(1), config.Targets[1].Guard.WatchWindow);
    }

    [Fact]
    public void Changes_from_a_JetStream_stream_are_read_with_their_defaults_and_refused_where_they_cannot_apply()
    {
        var config = Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2", changes: { nats: "nats://127.0.0.1:4222" } }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
            """);
        Assert.Equal(new StreamChangesConfig("nats://127.0.0.1:4222", "SCIMSYNC", "scimsync.events"), config.Source.Changes);
        Assert.Null(Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
            """).Source.Changes);
        var lastModified = Assert.Throws<ConfigException>(() => Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2", feed: lastModified, changes: { nats: "nats://127.0.0.1:4222" } }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
            """));
        Assert.Contains("cannot go with feed: lastModified", lastModified.Message);
        var http = Assert.Throws<ConfigException>(() => Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2", changes: { nats: "http://127.0.0.1:4222" } }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
            """));
        Assert.Contains("source.changes.nats: expected a NATS URL", http.Message);
    }

    [Fact]
    public void Nested_groups_are_flattened_unless_the_target_is_said_to_accept_them()
    {
        var config = Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets:
              - name: plain
                url: http://127.0.0.1:2/scim/v2
                groups: { names: [A] }
              - name: nesting
                url: http://127.0.0.1:3/scim/v2
                groups: { names: [A], nested: accept }
            """);
        Assert.Equal(NestedGroups.Flatten, config.Targets[0].Groups.Nested);
        Assert.Equal(NestedGroups.Accept, config.Targets[1].Groups.Nested);
        Assert.Equal(NestedGroups.Flatten, GroupSyncConfig.None.Nested);
        var e = Assert.Throws<ConfigException>(() => Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
                groups: { all: true, nested: yes }
            """));
        Assert.Contains("targets[0].groups.nested", e.Message);
        Assert.Contains("expected one of: flatten, accept", e.Message);
    }

    [Fact]
    public void A_misspelt_setting_is_named_with_its_line()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
                scpoe: { kinds: [employee] }
            """));
        Assert.StartsWith("test.yaml:5:", e.Message);
        Assert.Contains("targets[0].scpoe", e.Message);
        Assert.Contains("unknown setting", e.Message);
    }

    [Fact]
    public void Scope_only_restricts_also_adds_and_the_old_include_is_refused_with_its_line()
    {
        var config = Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
                scope: { only: [Grace@example.com], also: [heidi@example.com], exclude: [ivan@example.com] }
            """);
        var scope = config.Targets[0].Scope;
        Assert.True(scope.Only.Contains("grace@example.com")); // userNames compare case-insensitively
        Assert.Equal(["heidi@example.com"], scope.Also);
        Assert.Equal(["ivan@example.com"], scope.Exclude);

        // `include` added people while it read as restricting to them: refused, naming what to write instead.
        var e = Assert.Throws<ConfigException>(() => Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
                scope:
                  kinds: [employee]
                  include: [grace@example.com]
            """));
        Assert.StartsWith("test.yaml:7:", e.Message);
        Assert.Contains("targets[0].scope.include", e.Message);
        Assert.Contains("only: [...]", e.Message);
        Assert.Contains("also: [...]", e.Message);

        // A retired setting is not offered among the names of the others.
        var typo = Assert.Throws<ConfigException>(() => Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
                scope: { onyl: [grace@example.com] }
            """));
        Assert.Contains("expected one of: also, exclude, filter, groups, kinds, only", typo.Message);
    }

    [Theory]
    [InlineData("limits: { maxPageSize: -3 }", "targets[0].limits.maxPageSize", "whole number")]
    [InlineData("scope: { filter: 'userName eq' }", "targets[0].scope.filter", "not a valid SCIM filter")]
    [InlineData("scope: { kinds: [builtin] }", "targets[0].scope.kinds", "never provisioned")]
    [InlineData("scope: { kinds: [wizard] }", "targets[0].scope.kinds[0]", "expected one of")]
    [InlineData("auth: { type: bearer }", "targets[0].auth", "\"token\" is required")]
    [InlineData("guard: { maxDeletes: lots }", "targets[0].guard.maxDeletes", "percentage")]
    [InlineData("mapping: { active: userName }", "targets[0].mapping.active", "cannot be mapped")]
    [InlineData("policies: { unmatched: burn }", "targets[0].policies.unmatched", "report, deactivate, delete")]
    [InlineData("mapping: { nickName: { source: title, constant: x } }", "targets[0].mapping.nickName", "either \"source\"")]
    [InlineData("mapping: { nickName: { source: title, secrett: true } }", "targets[0].mapping.nickName.secrett", "unknown setting")]
    public void Invalid_values_are_reported_with_their_path(string line, string path, string message)
    {
        var e = Assert.Throws<ConfigException>(() => Parse($"""
            source: {"{"} type: scim, url: "http://127.0.0.1:1/scim/v2" {"}"}
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
                {line}
            """));
        Assert.Contains(path, e.Message);
        Assert.Contains(message, e.Message);
        Assert.Matches(@"^test\.yaml:\d+:\d+: ", e.Message);
    }

    [Fact]
    public void A_mapping_marks_a_secret_in_its_long_form_and_keeps_the_short_one()
    {
        var mapping = Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
                mapping:
                  title: title
                  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": { source: nickName, secret: true }
                  userType: { constant: Employee }
            """).Targets[0].Mapping;
        Assert.Equal([("title", "title", false), ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "nickName", true), ("userType", null, false)],
            mapping.Select(m => (m.Target, m.Source, m.Secret)));
        Assert.Equal("Employee", mapping[2].Constant!.GetValue<string>());
        var secrets = ScimSync.Sync.Mapping.SecretAttributes.From(mapping);
        Assert.True(secrets.IsSecret("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"));
        Assert.False(secrets.IsSecret("title"));
    }

    [Fact]
    public void Missing_environment_variable_is_an_error_not_an_empty_secret()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2", auth: { type: bearer, token: "${SCIMSYNC_TEST_UNSET_VAR}" } }
            targets: [ { name: a, url: "http://127.0.0.1:2/scim/v2" } ]
            """));
        Assert.Contains("SCIMSYNC_TEST_UNSET_VAR is not set", e.Message);
    }

    [Fact]
    public void Yaml_syntax_errors_carry_the_position()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("source: [\ntargets: {"));
        Assert.Matches(@"^test\.yaml:\d+:\d+: ", e.Message);
    }

    [Theory]
    [InlineData("source: { type: file, path: hr.csv, pollInterval: 1e400 }", "duration")]
    [InlineData("source: { type: file, path: hr.csv, pollInterval: 0 }", "duration")]
    [InlineData("source: { type: file, path: hr.csv, fullCompareInterval: 60d }", "duration")]
    [InlineData("source: { type: file, path: hr.csv }\ntargets: [ { name: a, url: \"http://127.0.0.1:2/scim/v2\", limits: { maxRequestsPerSecond: NaN } } ]", "number")]
    [InlineData("source: { type: file, path: hr.csv }\ntargets: [ { name: a, url: \"http://127.0.0.1:2/scim/v2\", guard: { maxDeletes: NaN } } ]", "count")]
    public void Numbers_out_of_range_are_configuration_errors(string yaml, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => Parse(yaml));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_comma_list_is_not_a_setting_value()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""
            source: { type: file, path: hr.csv }
            targets: [ { name: a, url: "http://127.0.0.1:2/scim/v2", policies: { unmatched: "report,delete" } } ]
            """));
        Assert.Contains("expected one of", e.Message);
    }

    [Fact]
    public void Duplicate_target_names_are_rejected()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""
            source: { type: file, path: hr.csv }
            targets: [ { name: a, url: "http://127.0.0.1:2/scim/v2" }, { name: A, url: "http://127.0.0.1:3/scim/v2" } ]
            """));
        Assert.Contains("used twice", e.Message);
    }

    [Fact]
    public void The_provisioning_log_keeps_90_days_unless_log_keepDays_says_otherwise()
    {
        const string Rest = """
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets: [ { name: a, url: "http://127.0.0.1:2/scim/v2" } ]
            """;
        Assert.Equal(TimeSpan.FromDays(90), Parse(Rest).Log.Keep);
        Assert.Equal(TimeSpan.FromDays(400), Parse("log: { keepDays: 400 }\n" + Rest).Log.Keep);
        var zero = Assert.Throws<ConfigException>(() => Parse("log: { keepDays: 0 }\n" + Rest));
        Assert.Contains("log.keepDays", zero.Message);
        var typo = Assert.Throws<ConfigException>(() => Parse("log: { keepDay: 30 }\n" + Rest));
        Assert.Contains("log.keepDay", typo.Message);
    }

    [Fact]
    public void Passwords_are_never_synced_unless_a_target_says_sync_and_need_a_scim_source_with_its_feed()
    {
        var config = Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
                passwords: sync
              - name: b
                url: http://127.0.0.1:3/scim/v2
              - name: c
                url: http://127.0.0.1:4/scim/v2
                passwords: never
            """);
        Assert.Equal([PasswordPolicy.Sync, PasswordPolicy.Never, PasswordPolicy.Never], config.Targets.Select(t => t.Passwords));
        var file = Assert.Throws<ConfigException>(() => Parse("""
            source: { type: file, path: hr.csv }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
                passwords: sync
            """));
        Assert.Contains("an HR file source has no passwords", file.Message);
        var lastModified = Assert.Throws<ConfigException>(() => Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2", feed: lastModified }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
                passwords: sync
            """));
        Assert.Contains("source.feed: poll", lastModified.Message);
        var typo = Assert.Throws<ConfigException>(() => Parse("""
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
                passwords: always
            """));
        Assert.Contains("passwords", typo.Message);
    }

    [Fact]
    public void The_console_section_names_people_with_a_role_and_a_token_from_the_environment_and_refuses_weak_or_shared_tokens()
    {
        const string Rest = """
            source: { type: scim, url: "http://127.0.0.1:1/scim/v2" }
            targets:
              - name: a
                url: http://127.0.0.1:2/scim/v2
            """;
        Environment.SetEnvironmentVariable("SCIMSYNC_TEST_CONSOLE_A", "a-console-token-of-enough-length");
        Environment.SetEnvironmentVariable("SCIMSYNC_TEST_CONSOLE_B", "another-console-token-long-enough");
        Assert.Null(Parse(Rest).Console);
        var config = Parse(Rest + """

            console:
              people:
                - { name: vera, role: viewer, token: "${SCIMSYNC_TEST_CONSOLE_A}" }
                - { name: olivia, role: operator, token: "${SCIMSYNC_TEST_CONSOLE_B}" }
            """);
        Assert.Equal([("vera", ConsoleRole.Viewer), ("olivia", ConsoleRole.Operator)], config.Console!.People.Select(p => (p.Name, p.Role)));
        Assert.Equal("a-console-token-of-enough-length", config.Console.People[0].Token);
        // A person printed (a log line, an exception) never shows the token.
        Assert.DoesNotContain("token-of-enough", config.Console.People[0].ToString(), StringComparison.Ordinal);

        var weak = Assert.Throws<ConfigException>(() => Parse(Rest + "\nconsole: { people: [ { name: v, role: viewer, token: short } ] }"));
        Assert.Contains("at least 16 characters", weak.Message);
        var shared = Assert.Throws<ConfigException>(() => Parse(Rest + "\nconsole: { people: [ { name: v, role: viewer, token: \"${SCIMSYNC_TEST_CONSOLE_A}\" }, { name: o, role: operator, token: \"${SCIMSYNC_TEST_CONSOLE_A}\" } ] }"));
        Assert.Contains("share a token", shared.Message);
        var role = Assert.Throws<ConfigException>(() => Parse(Rest + "\nconsole: { people: [ { name: v, role: admin, token: \"${SCIMSYNC_TEST_CONSOLE_A}\" } ] }"));
        Assert.Contains("viewer, operator", role.Message);
        var none = Assert.Throws<ConfigException>(() => Parse(Rest + "\nconsole: { people: [] }"));
        Assert.Contains("at least one person", none.Message);
        var unset = Assert.Throws<ConfigException>(() => Parse(Rest + "\nconsole: { people: [ { name: v, role: viewer, token: \"${SCIMSYNC_TEST_CONSOLE_UNSET}\" } ] }"));
        Assert.Contains("SCIMSYNC_TEST_CONSOLE_UNSET is not set", unset.Message);
    }
}
