-- Pending authorization requests are sealed into the browser's `req` parameter (flows/pending.rs)
-- instead of stored: nothing is written before the user authenticates (issue 6). Requests pending at
-- the upgrade are gone; their sign-ins restart from the application. Keep in step with the other dialect.
DROP TABLE auth_requests;
