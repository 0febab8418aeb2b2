-- Records of a state change (a sign-in, a code exchange, a refresh) are inserted here in its own
-- transaction, durable at its commit, and chained into audit_events shortly after by a background
-- thread (store/sql/audit_outbox.rs): the chain head is then locked once per batch, not through the
-- commit of every grant. Reads of the log chain what waits here first. Keep in step with the other
-- dialect, where the table exists but stays empty (SQLite chains in the transaction).
CREATE TABLE audit_outbox (
    id BIGSERIAL PRIMARY KEY,
    event TEXT NOT NULL
);
