DROP TABLE email_codes;
DROP TABLE client_policies;
ALTER TABLE users DROP COLUMN deletion_scheduled_at;
ALTER TABLE users DROP COLUMN region;
ALTER TABLE users DROP COLUMN level;
