-- Browser sessions of the admin service's settings page (signed in with a company API key).
-- Only the SHA-256 of the cookie's token is stored, so a leaked table cannot be replayed as cookies.
-- A session dies with the key it was opened with (revoking the key signs its sessions out).
CREATE TABLE admin_sessions (
    token_hash    bytea PRIMARY KEY,
    company_id    uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    api_key_id    uuid NOT NULL REFERENCES company_api_keys(id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    -- one message for the next page shown (after a form post without JavaScript)
    flash         jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);
