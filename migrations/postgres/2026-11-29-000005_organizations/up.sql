-- Organizations (B2B tenants): verified email domains, an optional SSO connection of their own, roles
-- (each a set of permission strings), members holding roles, and single-use invitations. Codes and
-- refresh tokens carry the organization a grant was made for, so refresh keeps the context and removing a
-- member revokes exactly that organization's grants. Keep in step with the other dialect.
CREATE TABLE organizations (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    connection_id TEXT,
    sso_required BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE organization_domains (
    domain TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE
);
CREATE INDEX organization_domains_organization_id ON organization_domains(organization_id);

CREATE TABLE organization_roles (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (organization_id, name)
);

CREATE TABLE organization_members (
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    roles TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user_id ON organization_members(user_id);

CREATE TABLE organization_invitations (
    id_hash TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    roles TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by TEXT
);
CREATE INDEX organization_invitations_organization_id ON organization_invitations(organization_id);

-- The organizations a client may be used with (JSON array; empty: any).
ALTER TABLE clients ADD COLUMN organizations TEXT NOT NULL DEFAULT '[]';
ALTER TABLE authorization_codes ADD COLUMN organization_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN organization_id TEXT;
CREATE INDEX refresh_tokens_user_organization ON refresh_tokens(user_id, organization_id);
