using System.Text.Json.Nodes;
using CsCheck;
using ScimSync.Protocol.Errors;
using ScimSync.Protocol.Patching;
using static ScimSync.Protocol.Tests.PatchingTests.PatchTestSupport;

namespace ScimSync.Protocol.Tests.PatchingTests;

/// <summary>
/// Random sequences drawn from a pool of valid and invalid operations: whatever happens, the input is
/// untouched, failures are protocol errors, and results satisfy the stored-state invariants.
/// </summary>
public sealed class PatchPropertyTests
{
    private static readonly string[] UserOps =
    [
        """{"op":"add","path":"emails","value":[{"value":"n@x.org","type":"other","primary":true}]}""",
        """{"op":"add","path":"emails","value":[{"value":"bjensen@example.com","type":"work"}]}""",
        """{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}""",
        """{"op":"replace","path":"emails[type eq \"other\"].value","value":"o@x.org"}""",
        """{"op":"remove","path":"emails[type eq \"work\"]"}""",
        """{"op":"remove","path":"emails"}""",
        """{"op":"replace","path":"emails","value":[{"value":"a@x.org","primary":true}]}""",
        """{"op":"replace","path":"emails.display","value":"Mail"}""",
        """{"op":"remove","path":"emails.primary"}""",
        """{"op":"replace","path":"name.givenName","value":"Ann"}""",
        """{"op":"remove","path":"name.familyName"}""",
        """{"op":"remove","path":"name"}""",
        """{"op":"add","path":"name","value":{"middleName":"J"}}""",
        """{"op":"Replace","path":"active","value":"False"}""",
        """{"op":"replace","value":{"active":true,"name.givenName":"Bee","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Sales"}}""",
        """{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m1"}""",
        """{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}""",
        """{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}""",
        """{"op":"add","path":"addresses[type eq \"work\"].formatted","value":"Columbus"}""",
        """{"op":"replace","path":"addresses[type eq \"work\"]","value":{"locality":"Reno"}}""",
        """{"op":"remove","path":"userName"}""",
        """{"op":"replace","path":"groups","value":[{"value":"g"}]}""",
        """{"op":"replace","path":"emails[value sw \"zz\"]","value":{"display":"x"}}""",
        """{"op":"replace","path":"displayName","value":null}""",
    ];

    private static readonly string[] GroupOps =
    [
        """{"op":"add","path":"members","value":[{"value":"m3","display":"Third"}]}""",
        """{"op":"remove","path":"members","value":[{"value":"2819c223-7f76-453a-919d-413861904646"}]}""",
        """{"op":"remove","path":"members[value eq \"m3\"]"}""",
        """{"op":"replace","path":"members","value":[{"value":"m4"}]}""",
        """{"op":"remove","path":"members"}""",
        """{"op":"replace","path":"members[value eq \"m3\"].display","value":"Changed"}""",
        """{"op":"add","path":"members[value eq \"m4\"].display","value":"Four"}""",
        """{"op":"replace","value":{"displayName":"Renamed"}}""",
        """{"op":"replace","value":{"id":"g1","displayName":"Renamed"}}""",
        """{"op":"remove","path":"displayName"}""",
    ];

    [Fact]
    public void User_patches_are_atomic_and_keep_invariants() => Check(UserOps, User, Registry.User);

    [Fact]
    public void Enterprise_user_patches_are_atomic_and_keep_invariants() => Check(UserOps, EnterpriseUser, Registry.User);

    [Fact]
    public void Group_patches_are_atomic_and_keep_invariants() => Check(GroupOps, Group, Registry.Group);

    private static void Check(string[] pool, Func<JsonObject> resource, Schemas.ResourceTypeDefinition rt) =>
        Gen.Int[0, pool.Length - 1].Array[1, 6].Sample(picks =>
        {
            var input = resource();
            var snapshot = input.DeepClone();
            var request = Request(picks.Select(i => pool[i]).ToArray());
            PatchResult result;
            try
            {
                result = Engine.Apply(input, rt, request);
            }
            catch (ScimException e)
            {
                Assert.Equal(400, e.Status);
                AssertJson(snapshot, input);
                return;
            }
            AssertJson(snapshot, input);
            Shaper.CheckInvariants(result.Resource, rt);
            AssertJson(Shaper.Normalize((JsonObject)result.Resource.DeepClone(), rt), result.Resource);
            Assert.Equal(result.Changed, result.ChangedAttributes.Count > 0);
            Assert.Equal(!JsonNode.DeepEquals(Shaper.Normalize((JsonObject)snapshot.DeepClone(), rt), result.Resource), result.Changed);

            // A result is a valid input: the same request applied to it fails cleanly or keeps the invariants.
            try
            {
                var again = Engine.Apply(result.Resource, rt, request);
                Shaper.CheckInvariants(again.Resource, rt);
            }
            catch (ScimException e)
            {
                Assert.Equal(400, e.Status);
            }
        }, iter: 2000);
}
