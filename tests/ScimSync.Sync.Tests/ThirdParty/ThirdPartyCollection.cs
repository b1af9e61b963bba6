namespace ScimSync.Sync.Tests.ThirdParty;

/// <summary>
/// The tests against SCIM servers other people wrote, one at a time (they start those servers, and load one with 3,000
/// accounts), beside the engine's own end-to-end tests rather than after them: CI's time is the longer of the two.
/// </summary>
[CollectionDefinition("ThirdParty")]
public sealed class ThirdPartyCollection;
