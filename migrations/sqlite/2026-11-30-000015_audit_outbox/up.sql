-- The PostgreSQL audit outbox (see that dialect's migration). SQLite has one writer at a time, so a
-- state change chains its records in its own transaction and this table stays empty; it exists so
-- that both dialects have the same tables.
CREATE TABLE audit_outbox (
    id INTEGER PRIMARY KEY,
    event TEXT NOT NULL
);
