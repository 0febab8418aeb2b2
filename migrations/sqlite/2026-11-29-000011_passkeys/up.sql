-- Passkeys (WebAuthn, issue 8). `passkey` is the webauthn-rs `Passkey` as JSON (public key, signature
-- counter, backup state); `credential_id` is its base64url credential id, unique across accounts.
-- `flagged_at` is set when a counter went backwards (a cloned authenticator, WebAuthn §6.1.1): such a
-- passkey no longer signs in.
-- `used_webauthn_challenges` holds the hash of every challenge an assertion or registration was accepted
-- for, until the challenge would have expired anyway, so that a ceremony can never be replayed.
-- Keep in step with the other dialect.
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    passkey TEXT NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    flagged_at BIGINT
);
CREATE INDEX passkeys_user_id ON passkeys(user_id);

CREATE TABLE used_webauthn_challenges (
    challenge_hash TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
