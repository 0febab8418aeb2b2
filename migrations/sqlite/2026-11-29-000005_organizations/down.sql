DROP INDEX refresh_tokens_user_organization;
ALTER TABLE refresh_tokens DROP COLUMN organization_id;
ALTER TABLE authorization_codes DROP COLUMN organization_id;
ALTER TABLE clients DROP COLUMN organizations;
DROP TABLE organization_invitations;
DROP TABLE organization_members;
DROP TABLE organization_roles;
DROP TABLE organization_domains;
DROP TABLE organizations;
