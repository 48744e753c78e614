-- Passkeys (issue 6). Twin of ../sqlite/20261129000009_passkeys.sql.

-- A passkey is a credentials row of kind 'webauthn': label its name, secret
-- webauthn-rs's record (public key, counter). The browser names it by its
-- credential id, which belongs to one account only.
ALTER TABLE credentials ADD COLUMN credential_id TEXT;
CREATE UNIQUE INDEX credentials_credential_id ON credentials (credential_id);

-- A passkey ceremony between its two requests: the state its answer is
-- checked against, found by the digest of the id the client holds, so the
-- answer may reach any node. Used once (deleted when taken), short-lived.
-- purpose: 'register' (account_id's new passkey), 'second_factor' (after the
-- password of account_id, in the session whose digest is session_hash),
-- 'sign_in' (nobody named yet), 'confirm' (account_id showing it is them
-- again in session session_hash, before new recovery codes).
CREATE TABLE webauthn_ceremonies (
    id_hash      TEXT PRIMARY KEY NOT NULL,
    purpose      TEXT NOT NULL,
    account_id   UUID REFERENCES accounts (id) ON DELETE CASCADE,
    session_hash TEXT,
    state        TEXT NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);
