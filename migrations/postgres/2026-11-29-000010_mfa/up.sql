-- Second factors (issue 8). A session that has passed only its first factor while a second is due is
-- `pending_factor`: it counts as signed in nowhere but on the second-factor page.
-- TOTP secrets are sealed (AEAD) under a key derived from the gateway secret; `last_step` is the last
-- accepted RFC 6238 time step, so each code works once. Recovery codes are stored as keyed hashes.
-- MFA policies belong to a client or an organization (`owner_kind` client|organization).
-- Keep in step with the other dialect.
ALTER TABLE sessions ADD COLUMN pending_factor BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE totp_factors (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sealed_secret TEXT NOT NULL,
    label TEXT NOT NULL,
    confirmed BOOLEAN NOT NULL,
    last_step BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX totp_factors_user_id ON totp_factors(user_id);

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE mfa_policies (
    owner_kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    required BOOLEAN NOT NULL,
    factors TEXT NOT NULL,
    passkey_only BOOLEAN NOT NULL,
    PRIMARY KEY (owner_kind, owner_id)
);
