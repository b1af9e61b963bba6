using System.Text.Json.Nodes;
using ScimSync.Sync.Mapping;

namespace ScimSync.Sync.Tests.Mapping;

public sealed class SecretAttributesTests
{
    private const string Enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    private static readonly SecretAttributes Secrets = new([$"{Enterprise}:employeeNumber", "name.middleName", "x509Certificates"]);

    [Fact]
    public void A_resource_is_copied_with_its_secrets_redacted_and_the_rest_as_it_was()
    {
        var resource = JsonNode.Parse("""
            {"userName":"grace","password":"hunter2","name":{"givenName":"Grace","middleName":"Brewster"},
             "emails":[{"value":"grace@example.com","type":"work"}],"x509Certificates":[{"value":"MIIB..."}],
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"PIN-4242","department":"Navy"}}
            """)!.AsObject();
        var before = resource.ToJsonString();
        var shown = Secrets.RedactResource(resource);

        Assert.Equal(before, resource.ToJsonString());
        Assert.Equal(JsonNode.Parse("""
            {"userName":"grace","password":"(secret)","name":{"givenName":"Grace","middleName":"(secret)"},
             "emails":[{"value":"grace@example.com","type":"work"}],"x509Certificates":"(secret)",
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"(secret)","department":"Navy"}}
            """)!.ToJsonString(), shown.ToJsonString());
    }

    [Theory]
    [InlineData("""{"userName":"grace","password":"p"}""", """{"userName":"grace","password":"(secret)"}""")]
    [InlineData("""{"userName":"grace","name":{"givenName":"Grace","MiddleName":"B"}}""", """{"userName":"grace","name":{"givenName":"Grace","MiddleName":"(secret)"}}""")]
    [InlineData("""{"userName":"grace","x509Certificates":[{"value":"MIIB"}]}""", """{"userName":"grace","x509Certificates":"(secret)"}""")]
    [InlineData("""{"userName":"grace","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Navy","employeeNumber":"7"}}""", """{"userName":"grace","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Navy","employeeNumber":"(secret)"}}""")]
    public void A_resource_with_one_secret_anywhere_is_copied_redacted(string resource, string shown)
    {
        var document = JsonNode.Parse(resource)!.AsObject();
        var redacted = Secrets.RedactResource(document);
        Assert.NotSame(document, redacted);
        Assert.Equal(JsonNode.Parse(shown)!.ToJsonString(), redacted.ToJsonString());
    }

    [Fact]
    public void A_resource_without_secrets_is_shown_as_it_is_without_a_copy()
    {
        // A plan's report shows 100,000 created documents: one without secrets is not copied.
        var document = JsonNode.Parse("""
            {"userName":"grace","name":{"givenName":"Grace"},"emails":[{"value":"grace@example.com"}],
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Navy"}}
            """)!.AsObject();
        Assert.Same(document, Secrets.RedactResource(document));
    }

    [Theory]
    [InlineData("""{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"PIN-1"}""", """{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"(secret)"}""")]
    [InlineData("""{"op":"replace","path":"NAME.middleName","value":"B"}""", """{"op":"replace","path":"NAME.middleName","value":"(secret)"}""")]
    [InlineData("""{"op":"add","path":"x509Certificates[type eq \"x\"].value","value":"MIIB"}""", """{"op":"add","path":"x509Certificates[type eq \"x\"].value","value":"(secret)"}""")]
    [InlineData("""{"op":"replace","value":{"password":"p","title":"Admiral"}}""", """{"op":"replace","value":{"password":"(secret)","title":"Admiral"}}""")]
    [InlineData("""{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"employeeNumber":"PIN-1","costCenter":"7"}}""", """{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"employeeNumber":"(secret)","costCenter":"7"}}""")]
    [InlineData("""{"op":"replace","path":"title","value":"Admiral"}""", """{"op":"replace","path":"title","value":"Admiral"}""")]
    [InlineData("""{"op":"remove","path":"name.middleName"}""", """{"op":"remove","path":"name.middleName"}""")]
    public void A_patch_operation_shows_its_value_unless_the_path_it_writes_is_secret(string operation, string shown) =>
        Assert.Equal(JsonNode.Parse(shown)!.ToJsonString(), Secrets.RedactPatchOperation(JsonNode.Parse(operation)!.AsObject()).ToJsonString());
}
