using System.Net;
using ScimSync.Feed.Delivery;

namespace ScimSync.Feed.Tests.Delivery;

/// <summary>The SSRF guard's two checks: the URL by name, the connected address by address.</summary>
public sealed class PushDestinationTests
{
    [Theory]
    [InlineData("93.184.215.14")]
    [InlineData("8.8.8.8")]
    [InlineData("2606:4700::1111")]
    [InlineData("::ffff:93.184.215.14")]
    [InlineData("64:ff9b::808:808")]
    public void Public_addresses_need_no_entry(string address) =>
        Assert.True(PushDestination.IsPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.8.9.10")]
    [InlineData("0.0.0.0")]
    [InlineData("10.1.2.3")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("169.254.169.254")]
    [InlineData("100.64.0.1")]
    [InlineData("100.127.255.255")]
    [InlineData("192.0.2.1")]
    [InlineData("198.18.0.1")]
    [InlineData("198.51.100.7")]
    [InlineData("203.0.113.9")]
    [InlineData("224.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("::127.0.0.1")]
    [InlineData("64:ff9b::a00:1")]
    [InlineData("fe80::1")]
    [InlineData("fc00::1")]
    [InlineData("fd12:3456::1")]
    [InlineData("fec0::1")]
    [InlineData("ff02::1")]
    [InlineData("100::1")]
    [InlineData("2001:db8::1")]
    public void Loopback_private_link_local_and_special_addresses_are_not_public(string address) =>
        Assert.False(PushDestination.IsPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.0")]
    [InlineData("100.63.255.255")]
    [InlineData("100.128.0.0")]
    [InlineData("169.253.0.1")]
    [InlineData("192.169.0.1")]
    public void The_edges_of_the_private_ranges_are_public(string address) =>
        Assert.True(PushDestination.IsPublic(IPAddress.Parse(address)));

    [Fact]
    public void An_address_entry_allows_that_address_with_its_scheme_and_port()
    {
        string[] allow = ["http://127.0.0.1:*", "https://10.0.0.5:8443", "http://[::1]:9000", "https://hooks.example.com"];
        Assert.True(PushDestination.IsAllowedAddress("http", IPAddress.Parse("127.0.0.1"), 1234, allow));
        Assert.True(PushDestination.IsAllowedAddress("http", IPAddress.Parse("::ffff:127.0.0.1"), 1234, allow));
        Assert.False(PushDestination.IsAllowedAddress("https", IPAddress.Parse("127.0.0.1"), 1234, allow));
        Assert.False(PushDestination.IsAllowedAddress("http", IPAddress.Parse("127.0.0.2"), 1234, allow));
        Assert.True(PushDestination.IsAllowedAddress("https", IPAddress.Parse("10.0.0.5"), 8443, allow));
        Assert.False(PushDestination.IsAllowedAddress("https", IPAddress.Parse("10.0.0.5"), 443, allow));
        Assert.True(PushDestination.IsAllowedAddress("http", IPAddress.Parse("::1"), 9000, allow));
        Assert.False(PushDestination.IsAllowedAddress("http", IPAddress.Parse("::1"), 9001, allow));
        // A name entry allows the name, never an address: hooks.example.com pointing at 10.0.0.6 is refused.
        Assert.False(PushDestination.IsAllowedAddress("https", IPAddress.Parse("10.0.0.6"), 443, allow));
        Assert.True(PushDestination.IsAllowedAddress("https", IPAddress.Parse("93.184.215.14"), 443, allow));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/hook", true)]
    [InlineData("http://localhost:8080/hook", false)]
    [InlineData("http://127.0.0.1:80@evil.example/x", false)]
    [InlineData("http://user:pw@127.0.0.1:8080/x", false)]
    [InlineData("ftp://127.0.0.1/x", false)]
    [InlineData("https://hooks.example.com/scim", true)]
    [InlineData("https://hooks.example.com:8443/scim", false)]
    [InlineData("http://hooks.example.com/scim", false)]
    public void A_URL_must_match_an_entry_by_scheme_host_and_port(string url, bool allowed) =>
        Assert.Equal(allowed, PushDestination.IsAllowed(url, ["http://127.0.0.1:*", "https://hooks.example.com"], out _));

    [Fact]
    public async Task Connecting_to_an_allowed_name_that_resolves_to_loopback_is_refused_without_the_address_entry()
    {
        var refused = await Assert.ThrowsAsync<PushRefusedException>(() =>
            PushDestination.ConnectAsync("http", new DnsEndPoint("localhost", 9), ["http://localhost:*"], default).AsTask());
        Assert.Contains("127.0.0.1", refused.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<PushRefusedException>(() =>
            PushDestination.ConnectAsync("http", new DnsEndPoint("169.254.169.254", 80), ["http://169.254.169.254:8080"], default).AsTask());
    }
}
