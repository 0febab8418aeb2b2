-- Fewer pages written per audit append (issue 6). `seq INTEGER PRIMARY KEY` makes seq the rowid, so a
-- record is one b-tree entry instead of a row plus an automatic unique index (`BIGINT PRIMARY KEY` is
-- not a rowid alias in SQLite). The `at` and `event` indexes served no query (the log is read by seq,
-- per organization after a seq, and per person for the data export) and cost a page each per append.
-- Keep in step with the other dialect.
CREATE TABLE audit_events_by_rowid (
    seq INTEGER PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor TEXT,
    subject TEXT,
    client_id TEXT,
    organization TEXT,
    ip TEXT,
    request_id TEXT,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_events_by_rowid
    SELECT seq, at, event, outcome, actor, subject, client_id, organization, ip, request_id, detail,
           prev_hash, hash
    FROM audit_events ORDER BY seq;
DROP TABLE audit_events;
ALTER TABLE audit_events_by_rowid RENAME TO audit_events;
