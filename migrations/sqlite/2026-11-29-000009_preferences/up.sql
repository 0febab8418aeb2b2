-- Communication preferences: operator-defined topics ("Product news", by email and/or sms) and each
-- person's choice per topic and channel. No row means not subscribed (opt-in). `source` says how the
-- latest choice was made (`portal`, `unsubscribe_link` or `admin`), the evidence for "when and how did
-- this person unsubscribe". Deleting a user or a topic deletes the choices. The partial index serves the
-- housekeeping task that looks for accounts whose deletion grace period is over (every 30 s, on every
-- replica). Keep in step with the other dialect.
CREATE TABLE preference_topics (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    channels TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE user_preferences (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    topic_id TEXT NOT NULL REFERENCES preference_topics(id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    subscribed BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (user_id, topic_id, channel)
);
CREATE INDEX user_preferences_topic_id ON user_preferences(topic_id);

CREATE INDEX users_deletion_scheduled_at ON users(deletion_scheduled_at)
    WHERE deletion_scheduled_at IS NOT NULL;
