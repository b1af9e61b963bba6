using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using ScimSync.Events;
using ScimSync.Feed.Events;
using ScimSync.Protocol.Patching;
using ScimSync.Store.Journal;
using static ScimSync.Feed.Tests.Events.EventTestSupport;

namespace ScimSync.Feed.Tests.Events;

/// <summary>
/// The receiving side of the event contract, as the sync engine uses it: a SET the feed sends, validated and read
/// back, says what the journal entry said (subject, payload, urgency), and the poll messages round-trip.
/// </summary>
public sealed class ReceivedSetTests
{
    private const string Issuer = "https://hr.example";
    private const string Audience = "scimsync-sync";
    private static readonly SigningKey Key = SigningKey.Generate("HS256");

    private static ReceivedSet Received(JournalEntry entry, PayloadMode mode = PayloadMode.Full)
    {
        var e = Build(entry, mode, endpoint: entry.Change.ResourceType == "Group" ? "/Groups" : "/Users");
        var token = new SetEncoder(new FakeTimeProvider()).Encode(e with { JournalPosition = entry.Position }, "j1", Issuer, [Audience], Key);
        return new PolledSet("j1", token).Receive(Key, issuer: null, Audience);
    }

    private static JournalEntry Group(JournalOperation op, string? request, params string[] attributes) =>
        Entry(op, GroupData, attributes, request, type: "Group", id: GroupId);

    public static TheoryData<string, JournalEntry, PayloadMode> SameAnswer => new()
    {
        { "user deleted", Delete(), PayloadMode.Full },
        { "group deleted", Delete("Group", GroupId), PayloadMode.Full },
        { "deactivated by PATCH", Patch(PatchOp("""{"op":"replace","path":"active","value":false}"""), WithActive(UserData, false), "active"), PayloadMode.Full },
        { "deactivated by PUT", Put(WithActive(UserData, false), "active"), PayloadMode.Notice },
        { "activated", Patch(PatchOp("""{"op":"replace","path":"active","value":true}"""), UserData, "active"), PayloadMode.Full },
        { "password, notice", Patch(null, UserData, "password"), PayloadMode.Notice },
        { "routine edit, full", Patch(PatchOp("""{"op":"replace","path":"title","value":"x"}"""), UserData, "title"), PayloadMode.Full },
        { "routine edit, notice", Put(UserData, "title"), PayloadMode.Notice },
        { "user created", Create(), PayloadMode.Full },
        { "members added, full", Group(JournalOperation.Patch, PatchOp("""{"op":"add","path":"members","value":[{"value":"u2"}]}"""), "members"), PayloadMode.Full },
        { "member removed by a filter, full", Group(JournalOperation.Patch, PatchOp("""{"op":"remove","path":"members[value eq \"u2\"]"}"""), "members"), PayloadMode.Full },
        { "members by a qualified path, full", Group(JournalOperation.Patch, PatchOp("""{"op":"add","path":"urn:ietf:params:scim:schemas:core:2.0:Group:members","value":[{"value":"u2"}]}"""), "members"), PayloadMode.Full },
        { "members added, notice", Group(JournalOperation.Patch, PatchOp("""{"op":"add","path":"members","value":[{"value":"u2"}]}"""), "members"), PayloadMode.Notice },
        // The engine read every group PATCH as urgent, and "members" among any resource's attributes.
        { "group renamed, full", Group(JournalOperation.Patch, PatchOp("""{"op":"replace","path":"displayName","value":"crm"}"""), "displayName"), PayloadMode.Full },
        { "a user's extension attribute called members", Entry(JournalOperation.Patch, UserData, ["members"]), PayloadMode.Notice },
    };

    [Theory]
    [MemberData(nameof(SameAnswer))]
    public void A_receiver_finds_the_urgency_the_journal_recorded(string change, JournalEntry entry, PayloadMode mode)
    {
        Assert.True(JournalUrgency.IsUrgent(entry.Change) == Received(entry, mode).Urgent, change);
    }

    [Fact]
    public void Where_the_SET_cannot_tell_the_receiver_errs_towards_urgent_or_cannot_see()
    {
        // A full PUT of a group replaces its members whether or not they changed.
        Assert.True(Received(Group(JournalOperation.Put, null, "displayName")).Urgent);
        // A password is never sent (RFC 7643 §4.1.1), so a PATCH that also set one reads as what else it did.
        var both = Patch(PatchOp("""{"op":"replace","path":"password","value":"s3cret"}""", """{"op":"replace","path":"title","value":"x"}"""), UserData, "password", "title");
        Assert.True(JournalUrgency.IsUrgent(both.Change));
        Assert.False(Received(both).Urgent);
    }

    [Fact]
    public void The_subject_payload_and_position_read_back_as_sent()
    {
        var patch = PatchOp("""{"op":"add","path":"members","value":[{"value":"u2"}]}""");
        var set = Received(Group(JournalOperation.Patch, patch, "members"));
        Assert.Equal(("Groups", "Group", GroupId, Txn, "W/\"3\""), (set.Endpoint, set.ResourceType, set.ResourceId, set.Txn, set.Version));
        Assert.Equal(42, set.JournalPosition);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(patch), set.PatchOp));
        Assert.Equal(PatchOperationType.Add, Assert.Single(set.Patch!.Operations).Op);
        Assert.Null(set.Data);
        Assert.False(set.Removed);

        var deleted = Received(Delete());
        Assert.True(deleted.Removed);
        Assert.Equal(("User", UserId), (deleted.ResourceType, deleted.ResourceId));
    }

    [Fact]
    public void A_SET_is_received_only_under_its_own_jti()
    {
        var token = new SetEncoder(new FakeTimeProvider()).Encode(Build(Delete()), "j1", Issuer, [Audience], Key);
        var e = Assert.Throws<SetValidationException>(() => new PolledSet("j2", token).Receive(Key, null, Audience));
        Assert.Equal("invalid_request", e.Err);
        Assert.Contains("j2", e.Message);
        Assert.Equal("invalid_issuer", Assert.Throws<SetValidationException>(() => new PolledSet("j1", token).Receive(Key, "https://other.example", Audience)).Err);
    }

    [Fact]
    public void Poll_messages_round_trip_in_order()
    {
        var request = new PollRequest(1000, true, ["a", "b"], new Dictionary<string, string>());
        var read = PollRequest.Read(request.ToJson());
        Assert.Equal(1000, read.MaxEvents);
        Assert.True(read.ReturnImmediately);
        Assert.Equal(["a", "b"], read.Ack);
        Assert.Empty(read.Errors);

        // A refused SET goes back as the RFC 8936 setErrs object, err and description apart.
        var refusing = new PollRequest(0, true, [], new Dictionary<string, string> { ["j9"] = "invalid_request: The SET has no txn" });
        Assert.Equal("invalid_request", refusing.ToJson()["setErrs"]!["j9"]!["err"]!.GetValue<string>());
        Assert.Equal("invalid_request: The SET has no txn", PollRequest.Read(refusing.ToJson()).Errors["j9"]);

        var sets = Enumerable.Range(0, 20).Select(i => new PolledSet("j" + (19 - i), "t" + i)).ToArray();
        var response = PollResponse.Read(new PollResponse(sets, true).ToJson());
        Assert.Equal(sets, response.Sets);
        Assert.True(response.MoreAvailable);
        Assert.False(PollResponse.Read(new PollResponse([], false).ToJson()).MoreAvailable);
    }

    [Fact]
    public void A_polled_SET_that_is_not_a_string_is_refused_not_skipped()
    {
        var body = new JsonObject { ["sets"] = new JsonObject { ["j1"] = new JsonObject() } };
        Assert.Equal("invalid_request", Assert.Throws<SetValidationException>(() => PollResponse.Read(body)).Err);
    }
}
