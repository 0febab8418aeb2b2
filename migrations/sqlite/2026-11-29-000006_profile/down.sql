ALTER TABLE refresh_tokens DROP COLUMN id_token_claims;
ALTER TABLE authorization_codes DROP COLUMN id_token_claims;
ALTER TABLE users DROP COLUMN profile;
