namespace ScimSync.Sync.Sources;

/// <summary>The format of an HR export file (<see cref="FileSource"/>).</summary>
public enum FileFormat { Csv, Json }
