-- Persistent sessions (issue 8, "keep me signed in"). `persistent`: the person chose to stay signed in
-- on this device (longer absolute and idle lifetimes, a cookie with Max-Age). `last_seen_at`: the last
-- browser request, written at most once a minute (idle timeout). `user_agent`: a short device summary
-- for the sessions page. Remembered sessions get a new cookie value every `sessions.rotate_after`:
-- `previous_id_hash` stays valid for a short grace after `rotated_at`, then presenting it ends the session.
-- Existing sessions count as seen and rotated when they started. Keep in step with the other dialect.
ALTER TABLE sessions ADD COLUMN persistent BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN previous_id_hash TEXT;
ALTER TABLE sessions ADD COLUMN rotated_at BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = created_at, rotated_at = created_at;
CREATE INDEX sessions_previous_id_hash ON sessions(previous_id_hash);
