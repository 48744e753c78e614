-- Two-step verification (issue 6). Twin of ../sqlite/20261129000008_two_factor.sql.

-- A TOTP credential remembers the last step whose code it accepted, so that
-- no code is accepted twice (RFC 6238 §5.2), on any node.
ALTER TABLE credentials ADD COLUMN last_step BIGINT;
-- Recovery codes are found by their digest.
DROP INDEX credentials_account;
CREATE INDEX credentials_account ON credentials (account_id, kind, secret);

-- A session is 'full', or 'second_factor': the password was right and a
-- second factor is still to be given; such a session opens nothing else.
ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'full';

-- An administrator may require two-step verification of one member, as an
-- organization may of all its members (organizations.require_two_factor).
ALTER TABLE memberships ADD COLUMN require_two_factor BOOLEAN NOT NULL DEFAULT FALSE;

-- The members with two-step verification, found from the credentials' kind.
CREATE INDEX credentials_kind ON credentials (kind, account_id);
