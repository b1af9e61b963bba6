namespace ScimSync.Protocol.Schemas;

public enum AttributeType { String, Boolean, Decimal, Integer, DateTime, Binary, Reference, Complex }

public enum Mutability { ReadWrite, ReadOnly, Immutable, WriteOnly }

public enum Returned { Default, Always, Never, Request }

public enum Uniqueness { None, Server, Global }
