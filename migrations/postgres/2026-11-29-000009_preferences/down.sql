DROP INDEX users_deletion_scheduled_at;
DROP TABLE user_preferences;
DROP TABLE preference_topics;
