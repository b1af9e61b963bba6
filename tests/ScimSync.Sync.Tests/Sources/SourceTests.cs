using System.Text.Json.Nodes;
using ScimSync.Sync.Accounts;
using ScimSync.Sync.Configuration;
using ScimSync.Sync.Sources;

namespace ScimSync.Sync.Tests.Sources;

public class GroupMembersPatchTests
{
    private static readonly SourceGroup Group = new("g", "Expenses", ["a", "b", "c"]);

    private static JsonObject Patch(params JsonObject[] ops) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:api:messages:2.0:PatchOp"),
        ["Operations"] = new JsonArray(ops.Select(o => (JsonNode)o).ToArray()),
    };

    private static JsonArray Values(params string[] ids) => new(ids.Select(i => (JsonNode)new JsonObject { ["value"] = i }).ToArray());

    [Fact]
    public void Add_and_filtered_remove_change_only_the_named_members()
    {
        var result = GroupMembersPatch.Apply(Group, Patch(
            new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = Values("d", "a") },
            new JsonObject { ["op"] = "remove", ["path"] = "members[value eq \"b\"]" }))!;
        Assert.Equal(["a", "c", "d"], result.Members);
    }

    [Fact]
    public void Entra_style_remove_with_values_and_replace_and_clear()
    {
        Assert.Equal(["b"], GroupMembersPatch.Apply(Group, Patch(new JsonObject { ["op"] = "Remove", ["path"] = "members", ["value"] = Values("a", "c") }))!.Members);
        Assert.Equal(["x"], GroupMembersPatch.Apply(Group, Patch(new JsonObject { ["op"] = "replace", ["path"] = "members", ["value"] = Values("x") }))!.Members);
        Assert.Empty(GroupMembersPatch.Apply(Group, Patch(new JsonObject { ["op"] = "remove", ["path"] = "members" }))!.Members);
    }

    [Fact]
    public void Path_less_replace_and_display_name()
    {
        var result = GroupMembersPatch.Apply(Group, Patch(new JsonObject { ["op"] = "replace", ["value"] = new JsonObject { ["displayName"] = "Travel", ["members"] = Values("z") } }))!;
        Assert.Equal("Travel", result.DisplayName);
        Assert.Equal(["z"], result.Members);
    }

    [Fact]
    public void Anything_it_cannot_apply_with_certainty_returns_null()
    {
        Assert.Null(GroupMembersPatch.Apply(Group, Patch(new JsonObject { ["op"] = "replace", ["path"] = "members[value eq \"a\"].display", ["value"] = "x" })));
        Assert.Null(GroupMembersPatch.Apply(Group, new JsonObject()));
        // A path-less remove is not an add; a filter literal with a bad escape is not guessed at.
        Assert.Null(GroupMembersPatch.Apply(Group, Patch(new JsonObject { ["op"] = "remove", ["value"] = new JsonObject { ["members"] = Values("a") } })));
        Assert.Null(GroupMembersPatch.Apply(Group, Patch(new JsonObject { ["op"] = "remove", ["path"] = "members[value eq \"a\\q\"]" })));
    }

    [Fact]
    public void Fully_qualified_member_paths_and_escaped_literals_are_applied()
    {
        var result = GroupMembersPatch.Apply(new SourceGroup("g", "Expenses", ["a", "say \"hi\""]), Patch(
            new JsonObject { ["op"] = "add", ["path"] = "urn:ietf:params:scim:schemas:core:2.0:Group:members", ["value"] = Values("d") },
            new JsonObject { ["op"] = "remove", ["path"] = "members[value eq \"say \\\"hi\\\"\"]" }))!;
        Assert.Equal(["a", "d"], result.Members);
    }

    private static List<string>? Members(params JsonObject[] ops) => GroupMembersPatch.Apply(Group, Patch(ops))?.Members.ToList();

    private const string MembersPath = "urn:ietf:params:scim:schemas:core:2.0:Group:members";

    // The regex-based parser read a path-less value's "members" key only: the qualified key was taken for some
    // other attribute and the membership change was lost from the engine's copy.
    [Fact]
    public void A_path_less_value_with_the_qualified_members_key_changes_members()
    {
        Assert.Equal(["a", "b", "c", "d"], Members(new JsonObject { ["op"] = "add", ["value"] = new JsonObject { [MembersPath] = Values("d") } }));
        Assert.Equal(["z"], Members(new JsonObject { ["op"] = "replace", ["value"] = new JsonObject { [MembersPath] = Values("z"), ["displayName"] = "Travel" } }));
    }

    [Fact]
    public void Filters_are_read_by_the_filter_parser_not_matched_as_text()
    {
        // An or of value equalities names the members exactly; spacing, case and grouping are the grammar's.
        Assert.Equal(["b"], Members(new JsonObject { ["op"] = "remove", ["path"] = "members[value eq \"a\" or value eq \"c\"]" }));
        Assert.Equal(["a", "c"], Members(new JsonObject { ["op"] = "remove", ["path"] = "MEMBERS[(VALUE EQ \"b\")]" }));
        Assert.Equal(["a", "c"], Members(new JsonObject { ["op"] = "remove", ["path"] = MembersPath + "[value eq \"b\"]" }));
        // An and needs the members' other sub-attributes, which the engine's copy does not keep: not guessed at.
        Assert.Null(Members(new JsonObject { ["op"] = "remove", ["path"] = "members[value eq \"a\" and type eq \"User\"]" }));
        Assert.Null(Members(new JsonObject { ["op"] = "remove", ["path"] = "members[display eq \"Ann\"]" }));
    }

    [Fact]
    public void A_value_may_be_one_member_or_a_list()
    {
        Assert.Equal(["a", "b", "c", "d"], Members(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = new JsonObject { ["value"] = "d" } }));
        Assert.Equal(["a", "b", "c", "d"], Members(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = Values("d") }));
        Assert.Equal(["a", "b", "c", "d"], Members(new JsonObject { ["op"] = "add", ["value"] = new JsonObject { ["members"] = new JsonObject { ["value"] = "d" } } }));
    }

    [Fact]
    public void The_display_name_by_its_qualified_path_and_what_is_not_a_PatchOp()
    {
        Assert.Equal("Travel", GroupMembersPatch.Apply(Group, Patch(new JsonObject { ["op"] = "replace", ["path"] = "urn:ietf:params:scim:schemas:core:2.0:Group:displayName", ["value"] = "Travel" }))!.DisplayName);
        Assert.Null(GroupMembersPatch.Apply(Group, Patch(new JsonObject { ["op"] = "replace", ["path"] = "displayName", ["value"] = 7 })));
        // The server always sends the PatchOp schema; a body without it is not one, and the group is read instead.
        Assert.Null(GroupMembersPatch.Apply(Group, new JsonObject { ["Operations"] = new JsonArray(new JsonObject { ["op"] = "add", ["path"] = "members", ["value"] = Values("d") }) }));
    }
}

public class AccountKindRulesTests
{
    [Fact]
    public void Kinds_are_single_names_and_active_may_arrive_as_a_string()
    {
        JsonObject User(string kind) => new() { ["urn:scimsync:params:scim:schemas:extension:account:2.0:User"] = new JsonObject { ["kind"] = kind } };
        Assert.Equal(AccountKind.Contractor, AccountKindRules.Default.KindOf(User("Contractor")));
        Assert.Equal(AccountKind.Unknown, AccountKindRules.Default.KindOf(User("employee,contractor")));
        Assert.Equal(AccountKind.Unknown, AccountKindRules.Default.KindOf(User("3")));
        Assert.False(AccountKindRules.IsActive(new JsonObject { ["active"] = "False" }));
        Assert.False(SourceAccount.From(new JsonObject { ["id"] = "s1", ["userName"] = "ann", ["active"] = "false" }, AccountKindRules.Default).SourceActive);
    }

    [Fact]
    public void An_end_date_attribute_may_be_an_extension_path()
    {
        var rules = AccountKindRules.Default with { EndDateAttribute = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:endDate" };
        var user = new JsonObject { ["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = new JsonObject { ["endDate"] = "2027-03-31T17:00:00Z" } };
        Assert.Equal(new DateTimeOffset(2027, 3, 31, 17, 0, 0, TimeSpan.Zero), rules.EndDateOf(user));
    }
}

public class SourceSnapshotTests
{
    private static SourceAccount U(string id) => SourceAccount.From(new JsonObject { ["id"] = id, ["userName"] = id }, AccountKindRules.Default);

    [Fact]
    public void With_keeps_the_group_index_right_and_leaves_the_original_alone()
    {
        var s = new SourceSnapshot([U("a"), U("b")], [new SourceGroup("g1", "One", ["a"]), new SourceGroup("g2", "Two", ["a", "b"])], 5);
        var next = s.With([U("c")], ["b"], [new SourceGroup("g1", "One", ["c"])], ["g2"], null);
        Assert.Equal(["a", "c"], next.Users.Keys.Order());
        Assert.Empty(next.GroupNamesOf("a"));
        Assert.Equal(["One"], next.GroupNamesOf("c"));
        Assert.Equal(5, next.Position);
        Assert.Equal(["One", "Two"], s.GroupNamesOf("a").Order());
        Assert.Equal(2, s.Users.Count);
    }
}

public class FileSourceTests
{
    private static string Write(string text, string ext)
    {
        var path = Path.Combine(Path.GetTempPath(), "scimsync-file-" + Guid.NewGuid().ToString("N") + ext);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Csv_export_becomes_accounts_kinds_end_dates_and_groups()
    {
        var path = Write("""
            id,userName,givenName,familyName,email,kind,endDate,department,groups,active
            e1,ann@example.com,Ann,"Lee, Jr.",ann@example.com,employee,,Support,Expenses;Travel,true
            c1,bob@example.com,Bob,Ray,bob@example.com,contractor,2027-01-31T17:00:00Z,,Expenses,
            s1,svc-hr,,,,service,,,,false
            """, ".csv");
        var snap = FileSource.Read(path, FileFormat.Csv, AccountKindRules.Default);
        Assert.Equal(3, snap.Users.Count);
        Assert.Equal("Lee, Jr.", snap.Users["e1"].Document["name"]!["familyName"]!.GetValue<string>());
        Assert.Equal(AccountKind.Contractor, snap.Users["c1"].Kind);
        Assert.Equal(new DateTimeOffset(2027, 1, 31, 17, 0, 0, TimeSpan.Zero), snap.Users["c1"].EndDate);
        Assert.Equal(AccountKind.Service, snap.Users["s1"].Kind);
        Assert.False(snap.Users["s1"].SourceActive);
        Assert.Equal(["c1", "e1"], snap.Groups["Expenses"].Members.Order());
        Assert.Equal("Support", snap.Users["e1"].Document["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]!["department"]!.GetValue<string>());
    }

    [Fact]
    public void Diff_against_the_previous_import_names_changed_added_removed_and_moved_members()
    {
        var before = FileSource.Read(Write("[{\"id\":\"a\",\"userName\":\"a\",\"groups\":[\"G\"]},{\"id\":\"b\",\"userName\":\"b\"},{\"id\":\"c\",\"userName\":\"c\"}]", ".json"), FileFormat.Json, AccountKindRules.Default);
        var after = FileSource.Read(Write("[{\"id\":\"a\",\"userName\":\"a\"},{\"id\":\"b\",\"userName\":\"b\",\"title\":\"x\",\"groups\":[\"G\"]},{\"id\":\"d\",\"userName\":\"d\"}]", ".json"), FileFormat.Json, AccountKindRules.Default);
        Assert.Equal(["a", "b", "c", "d", "group:G"], FileSource.Diff(before, after).Order());
        Assert.Empty(FileSource.Diff(after, after));
    }

    [Fact]
    public void Bad_rows_are_reported_with_their_line()
    {
        var e = Assert.Throws<SourceFileRejectedException>(() => FileSource.Read(Write("id,userName,endDate\na,a,someday\n", ".csv"), FileFormat.Csv, AccountKindRules.Default));
        Assert.Contains(":2:", e.Message);
        var dup = Assert.Throws<SourceFileRejectedException>(() => FileSource.Read(Write("id,userName\na,a\na,b\n", ".csv"), FileFormat.Csv, AccountKindRules.Default));
        Assert.Contains("appears twice", dup.Message);
    }

    [Fact]
    public void Quoted_fields_may_span_lines_and_broken_quoting_is_an_error_with_its_line()
    {
        var snap = FileSource.Read(Write("id,userName,title,active\na,ann,\"Head of\nSales, \"\"EMEA\"\"\",false\nb,bob,Rep,true\n", ".csv"), FileFormat.Csv, AccountKindRules.Default);
        Assert.Equal("Head of\nSales, \"EMEA\"", snap.Users["a"].Document["title"]!.GetValue<string>());
        Assert.False(snap.Users["a"].SourceActive);
        Assert.True(snap.Users["b"].SourceActive);

        var unclosed = Assert.Throws<SourceFileRejectedException>(() => FileSource.Read(Write("id,userName,title\na,ann,ok\nb,bob,\"never closed\n", ".csv"), FileFormat.Csv, AccountKindRules.Default));
        Assert.Contains(":3:", unclosed.Message);
        var stray = Assert.Throws<SourceFileRejectedException>(() => FileSource.Read(Write("id,userName,title\na,ann,6\" tall\n", ".csv"), FileFormat.Csv, AccountKindRules.Default));
        Assert.Contains(":2:", stray.Message);
        var numeric = Assert.Throws<SourceFileRejectedException>(() => FileSource.Read(Write("[{\"id\":7,\"userName\":\"x\"}]", ".json"), FileFormat.Json, AccountKindRules.Default));
        Assert.Contains("as strings", numeric.Message);
    }
}
