-- Browser origins (scheme://host[:port]) a client's single-page app calls /token, /revoke and /userinfo from
-- (CORS). A JSON array, like redirect_uris.
ALTER TABLE clients ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
