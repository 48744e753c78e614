-- Self sign-up and e-mail domains (issue 8, seed 003). Twin of
-- ../sqlite/20261129000012_signup_domains.sql.

-- A domain an environment claims, and its proof. txt_value is what the TXT
-- record _portier-challenge.<domain> must hold (public by nature: it is
-- published in DNS). A proof by mail keeps only the hash of its link's
-- token. Several environments may claim a domain; only one can prove it.
CREATE TABLE domains (
    id              UUID PRIMARY KEY NOT NULL,
    environment_id  UUID NOT NULL REFERENCES organizations (id),
    domain          TEXT NOT NULL,
    txt_value       TEXT NOT NULL,
    verified_at     TIMESTAMPTZ,
    proof           TEXT,
    mail_token_hash TEXT,
    mail_address    TEXT,
    mail_expires_at TIMESTAMPTZ,
    last_checked_at TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (environment_id, domain)
);
CREATE UNIQUE INDEX domains_proven ON domains (domain) WHERE verified_at IS NOT NULL;
CREATE UNIQUE INDEX domains_mail_token ON domains (mail_token_hash) WHERE mail_token_hash IS NOT NULL;

-- A sign-up waiting for its address to be confirmed (the link works once,
-- for 24 hours). Nothing is joined or created before that; the password is
-- kept only as its Argon2id hash.
CREATE TABLE signups (
    id                UUID PRIMARY KEY NOT NULL,
    token_hash        TEXT NOT NULL UNIQUE,
    email             TEXT NOT NULL,
    given_name        TEXT,
    family_name       TEXT,
    password_hash     TEXT NOT NULL,
    organization_name TEXT,
    locale            TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    used_at           TIMESTAMPTZ
);
CREATE INDEX signups_email ON signups (email);
CREATE INDEX signups_expires ON signups (expires_at);

-- The environment holds people who join by their domain until approved.
ALTER TABLE organizations ADD COLUMN signup_approval BOOLEAN NOT NULL DEFAULT FALSE;
-- A membership that waits for approval: inactive until an administrator
-- accepts it; and one that came by the domain (its administrators see who
-- joined so lately).
ALTER TABLE memberships ADD COLUMN awaiting_approval BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE memberships ADD COLUMN joined_by_domain BOOLEAN NOT NULL DEFAULT FALSE;
