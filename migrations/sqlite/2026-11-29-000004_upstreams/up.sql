-- Brokered sign-in: upstream connections declared by CLI (those in the config file live in memory),
-- the domains they claim (home-realm discovery), the upstream identities linked to local users (keyed by
-- connection and upstream subject, never by email), the state of sign-ins in flight at an upstream, and
-- single-use proofs that let a user link an identity to the account they have just proven to control.
-- Keep in step with the other dialect.
CREATE TABLE upstream_connections (
    id TEXT PRIMARY KEY NOT NULL,
    spec TEXT NOT NULL,
    secrets BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE upstream_domains (
    domain TEXT PRIMARY KEY NOT NULL,
    connection_id TEXT NOT NULL REFERENCES upstream_connections(id) ON DELETE CASCADE
);
CREATE INDEX upstream_domains_connection_id ON upstream_domains(connection_id);

CREATE TABLE user_identities (
    connection_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    PRIMARY KEY (connection_id, subject)
);
CREATE INDEX user_identities_user_id ON user_identities(user_id);

CREATE TABLE upstream_states (
    state_hash TEXT PRIMARY KEY NOT NULL,
    browser_hash TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    secrets BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX upstream_states_expires_at ON upstream_states(expires_at);

CREATE TABLE link_proofs (
    id_hash TEXT PRIMARY KEY NOT NULL,
    browser_hash TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email TEXT,
    request_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX link_proofs_expires_at ON link_proofs(expires_at);
