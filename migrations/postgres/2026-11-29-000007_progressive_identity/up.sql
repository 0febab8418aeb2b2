-- Progressive identity: an account starts light (name and email, verified by a one-time code, no
-- password) and becomes full when it gets a password, a passkey or a linked provider. A person may
-- declare the region whose consent rules apply, and may ask for their account to be erased after a grace
-- period. Per client: whether light accounts may be created through it, the profile fields it needs
-- (progressive profiling), the consent documents it requires and its default region.
-- One-time email codes are stored hashed, bound to the browser that asked, single use.
-- Keep in step with the other dialect.
ALTER TABLE users ADD COLUMN level TEXT NOT NULL DEFAULT 'full';
ALTER TABLE users ADD COLUMN region TEXT;
ALTER TABLE users ADD COLUMN deletion_scheduled_at BIGINT;

CREATE TABLE client_policies (
    client_id TEXT PRIMARY KEY NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    allow_light_accounts BOOLEAN NOT NULL,
    required_fields TEXT NOT NULL,
    optional_fields TEXT NOT NULL,
    required_documents TEXT NOT NULL,
    region TEXT
);

CREATE TABLE email_codes (
    id_hash TEXT PRIMARY KEY NOT NULL,
    code_hash TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    email TEXT NOT NULL,
    purpose TEXT NOT NULL,
    request_id TEXT,
    return_to TEXT,
    name TEXT,
    attempts INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX email_codes_expires_at ON email_codes(expires_at);
