-- Fewer index entries written per audit append (issue 6): the `at` and `event` indexes served no query
-- (the log is read by seq, per organization after a seq, and per person for the data export).
-- SQLite also makes seq its rowid here. Keep in step with the other dialect.
DROP INDEX audit_events_at;
DROP INDEX audit_events_event;
