namespace ScimSync.Feed.Events;

/// <summary>Whether the change moved the resource into or out of a subscription's filter.</summary>
public enum FeedTransition { None, Entered, Left }
