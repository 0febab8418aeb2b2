-- The user's profile beyond name and email (OIDC Core §5.1 standard claims and operator-defined
-- attributes), as one JSON document; and, on codes and refresh tokens, the claims the client asked to
-- receive in the ID token (the `claims` request parameter, OIDC Core §5.5), space-separated.
ALTER TABLE users ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';
ALTER TABLE authorization_codes ADD COLUMN id_token_claims TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN id_token_claims TEXT NOT NULL DEFAULT '';
