CREATE TABLE audit_events_by_key (
    seq BIGINT PRIMARY KEY NOT NULL,
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
INSERT INTO audit_events_by_key
    SELECT seq, at, event, outcome, actor, subject, client_id, organization, ip, request_id, detail,
           prev_hash, hash
    FROM audit_events ORDER BY seq;
DROP TABLE audit_events;
ALTER TABLE audit_events_by_key RENAME TO audit_events;
CREATE INDEX audit_events_at ON audit_events(at);
CREATE INDEX audit_events_event ON audit_events(event);
