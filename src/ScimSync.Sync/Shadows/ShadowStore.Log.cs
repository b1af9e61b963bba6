using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;

namespace ScimSync.Sync.Shadows;

/// <summary>One attribute an operation changed: its value before (as the shadow held it) and the value sent; null is "none".</summary>
public sealed record AttributeChange(string Path, JsonNode? Old, JsonNode? New);

/// <summary>
/// What to find in the provisioning log. Every filter is optional; the newest entries come first.
/// </summary>
/// <param name="People">
/// Source account ids or userNames (case-insensitive), any of which identifies the person: entries recorded under an
/// earlier userName are found through the source id those entries share.
/// </param>
/// <param name="Result"><c>ok</c> or <c>failed</c>.</param>
/// <param name="Since">Inclusive.</param>
/// <param name="Until">Exclusive.</param>
public sealed record AuditQuery(IReadOnlyList<string>? People = null, string? Target = null, string? Result = null,
    DateTimeOffset? Since = null, DateTimeOffset? Until = null, int Limit = 100);

/// <summary>The provisioning log: the audit table read back by person, target, result and time.</summary>
public sealed partial class ShadowStore
{
    private const string AuditColumns = """
        time, cause, target, verb, subject, target_id, source_id, result, status, duration_ms, detail,
        user_name, changes, journal_position, event_time, writer, scim_type, action
        """;

    /// <summary>
    /// The entries matching <paramref name="query"/>, newest first. A person's entries come from two index seeks (by
    /// source id, by userName) whatever the log's size: this is what `sync user` and `sync log --user` ask.
    /// The other filters have their indexes too (target, failures, time), each ordered by the entry's sequence.
    /// </summary>
    public IReadOnlyList<AuditRecord> Log(AuditQuery query)
    {
        var where = new List<string>();
        var args = new List<(string, object?)>();
        if (query.People is { Count: > 0 } people)
        {
            var names = string.Join(", ", people.Select((_, i) => "@p" + i.ToString(CultureInfo.InvariantCulture)));
            for (var i = 0; i < people.Count; i++) args.Add(("@p" + i.ToString(CultureInfo.InvariantCulture), people[i]));
            // By source id; by userName; and by the source ids of the entries that name the person, so that what was
            // recorded under an earlier userName, or without one (an unlink), is found too. INDEXED BY: without
            // statistics SQLite may prefer walking the whole table in seq order.
            where.Add($"""
                seq IN (SELECT seq FROM audit INDEXED BY ix_audit_source WHERE source_id IN ({names})
                        UNION SELECT seq FROM audit INDEXED BY ix_audit_user WHERE user_name IN ({names})
                        UNION SELECT seq FROM audit INDEXED BY ix_audit_source WHERE source_id IN
                            (SELECT source_id FROM audit INDEXED BY ix_audit_user WHERE user_name IN ({names}) AND source_id IS NOT NULL))
                """);
        }
        if (query.Target is not null)
        {
            where.Add("target = @target");
            args.Add(("@target", query.Target));
        }
        if (query.Result == "failed")
            // The literal lets SQLite use the partial index of failures (ix_audit_failed); a parameter would not.
            where.Add("result = 'failed'");
        else if (query.Result is not null)
        {
            where.Add("result = @result");
            args.Add(("@result", query.Result));
        }
        if (query.Since is { } since)
        {
            where.Add("time >= @since");
            args.Add(("@since", since.UtcTicks));
        }
        if (query.Until is { } until)
        {
            where.Add("time < @until");
            args.Add(("@until", until.UtcTicks));
        }
        args.Add(("@limit", Math.Max(0, query.Limit)));
        var sql = $"SELECT {AuditColumns} FROM audit{(where.Count == 0 ? "" : " WHERE " + string.Join(" AND ", where))} ORDER BY seq DESC LIMIT @limit";
        List<AuditRecord> page;
        lock (_gate)
        {
            using var cmd = Command(sql, [.. args]);
            page = ReadAudit(cmd);
        }
        // Records reach the log in the order their writes were committed, which for operations finishing at the
        // same moment on different lanes can differ from their times by a few microseconds: a page is shown by time.
        return [.. page.OrderByDescending(a => a.Time)];
    }

    private static List<AuditRecord> ReadAudit(SqliteCommand cmd)
    {
        using var r = cmd.ExecuteReader();
        var list = new List<AuditRecord>();
        string? Text(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        while (r.Read())
            list.Add(new AuditRecord(new DateTimeOffset(r.GetInt64(0), TimeSpan.Zero), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4),
                Text(5), Text(6), r.GetString(7), r.IsDBNull(8) ? null : r.GetInt32(8), r.GetDouble(9), Text(10))
            {
                UserName = Text(11),
                Changes = ParseChanges(Text(12)),
                JournalPosition = r.IsDBNull(13) ? null : r.GetInt64(13),
                EventTime = r.IsDBNull(14) ? null : new DateTimeOffset(r.GetInt64(14), TimeSpan.Zero),
                Writer = Text(15),
                ScimType = Text(16),
                Action = Text(17),
            });
        return list;
    }

    /// <summary>Changes as stored: <c>[{"path": …, "old": …, "new": …}]</c>, an absent value omitted; null when there are none.</summary>
    internal static string? ChangesJson(IReadOnlyList<AttributeChange> changes)
    {
        if (changes.Count == 0) return null;
        // Written straight from the values (an initial load records every attribute of 100,000 accounts): no copies.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = StoredJson.Encoder }))
        {
            w.WriteStartArray();
            foreach (var c in changes)
            {
                w.WriteStartObject();
                w.WriteString("path", c.Path);
                if (c.Old is not null)
                {
                    w.WritePropertyName("old");
                    c.Old.WriteTo(w);
                }
                if (c.New is not null)
                {
                    w.WritePropertyName("new");
                    c.New.WriteTo(w);
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static IReadOnlyList<AttributeChange> ParseChanges(string? json)
    {
        if (json is null || JsonNode.Parse(json) is not JsonArray array) return [];
        return array.OfType<JsonObject>().Select(o => new AttributeChange(o["path"]?.GetValue<string>() ?? "", o["old"]?.DeepClone(), o["new"]?.DeepClone())).ToArray();
    }

    // Stored text stays readable (no \u escapes for non-ASCII names); it is printed, never embedded in HTML.
    private static readonly JsonSerializerOptions StoredJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// Entries written before the log had a userName column: the name is in the subject (<c>user NAME [id]</c>), so
    /// that looking a person up by name finds what happened to them before the upgrade too.
    /// </summary>
    private static void BackfillAuditUserNames(SqliteConnection db) => Exec(db, """
        UPDATE audit SET user_name = CASE WHEN instr(subject, ' [') > 0 THEN substr(subject, 6, instr(subject, ' [') - 6) ELSE substr(subject, 6) END
        WHERE user_name IS NULL AND subject LIKE 'user %'
        """);
}
