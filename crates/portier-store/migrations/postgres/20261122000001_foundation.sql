-- Portier's foundation schema, PostgreSQL dialect. Its twin is
-- ../sqlite/20261122000001_foundation.sql; a test checks that both define the
-- same tables and columns. Ids are native UUIDs, times timestamptz, flags
-- booleans, structured values jsonb.

CREATE TABLE organizations (
    id                 UUID PRIMARY KEY NOT NULL,
    parent_id          UUID REFERENCES organizations (id),
    environment_id     UUID NOT NULL,
    -- Materialized path "root/…/self/": a node's descendants are a prefix range;
    -- byte order ("C") keeps that range contiguous whatever the server's locale.
    path               TEXT COLLATE "C" NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    require_two_factor BOOLEAN NOT NULL DEFAULT FALSE,
    billing_cycle      TEXT NOT NULL DEFAULT 'monthly',
    locale             TEXT NOT NULL DEFAULT 'en',
    password_policy    JSONB NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX organizations_parent ON organizations (parent_id);
CREATE INDEX organizations_environment ON organizations (environment_id);

CREATE TABLE accounts (
    id           UUID PRIMARY KEY NOT NULL,
    email        TEXT NOT NULL UNIQUE,
    salutation   TEXT,
    given_name   TEXT,
    infix        TEXT,
    family_name  TEXT,
    sort_key     TEXT NOT NULL,
    phone        TEXT,
    mobile       TEXT,
    locale       TEXT,
    status       TEXT NOT NULL,
    disabled     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    activated_at TIMESTAMPTZ
);

CREATE TABLE memberships (
    id              UUID PRIMARY KEY NOT NULL,
    account_id      UUID NOT NULL REFERENCES accounts (id),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    staff_code      TEXT,
    description     TEXT,
    job_title       TEXT,
    labels          JSONB NOT NULL DEFAULT '[]'::jsonb,
    invited_by      UUID REFERENCES accounts (id),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (account_id, organization_id),
    UNIQUE (organization_id, staff_code)
);
CREATE INDEX memberships_organization ON memberships (organization_id);

CREATE TABLE roles (
    id                    UUID PRIMARY KEY NOT NULL,
    -- NULL for the built-ins, which every organization has.
    organization_id       UUID REFERENCES organizations (id),
    key                   TEXT NOT NULL,
    name_en               TEXT NOT NULL,
    name_nl               TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    requires_registration TEXT,
    portfolio_types       JSONB NOT NULL DEFAULT '[]'::jsonb,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    UNIQUE (organization_id, key)
);

CREATE TABLE role_permissions (
    role_id    UUID NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE membership_roles (
    membership_id UUID NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    role_id       UUID NOT NULL REFERENCES roles (id),
    PRIMARY KEY (membership_id, role_id)
);
CREATE INDEX membership_roles_role ON membership_roles (role_id);

-- Activation and password-reset tokens; only the SHA-256 hash is kept.
CREATE TABLE tokens (
    id              UUID PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,
    account_id      UUID NOT NULL REFERENCES accounts (id),
    organization_id UUID REFERENCES organizations (id),
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ,
    replaced_at     TIMESTAMPTZ
);
CREATE INDEX tokens_account ON tokens (account_id, kind);

-- Password hashes, TOTP secrets, recovery codes, passkeys.
CREATE TABLE credentials (
    id           UUID PRIMARY KEY NOT NULL,
    account_id   UUID NOT NULL REFERENCES accounts (id),
    kind         TEXT NOT NULL,
    label        TEXT,
    secret       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX credentials_account ON credentials (account_id, kind);

-- Console sessions, kept in the database so every node knows them.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY NOT NULL,
    account_id   UUID REFERENCES accounts (id),
    data         JSONB NOT NULL DEFAULT '{}'::jsonb,
    user_agent   TEXT,
    client_addr  TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id              UUID PRIMARY KEY NOT NULL,
    organization_id UUID NOT NULL REFERENCES organizations (id),
    account_id      UUID REFERENCES accounts (id),
    name            TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,
    permissions     JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ,
    last_used_at    TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX api_tokens_organization ON api_tokens (organization_id);

-- Append-only, hash-chained per environment (the nil id chains platform events).
CREATE TABLE audit_events (
    id               UUID PRIMARY KEY NOT NULL,
    environment_id   UUID NOT NULL,
    seq              BIGINT NOT NULL,
    at               TIMESTAMPTZ NOT NULL,
    actor            JSONB NOT NULL,
    actor_account_id UUID,
    action           TEXT NOT NULL,
    organization_id  UUID,
    target_type      TEXT NOT NULL,
    target_id        TEXT NOT NULL,
    changes          JSONB NOT NULL,
    client_addr      TEXT,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL,
    UNIQUE (environment_id, seq)
);
CREATE INDEX audit_events_organization ON audit_events (organization_id, at);
CREATE INDEX audit_events_target ON audit_events (target_type, target_id);

-- The head of each chain; updating it serializes writers of one environment.
CREATE TABLE audit_heads (
    environment_id UUID PRIMARY KEY NOT NULL,
    seq            BIGINT NOT NULL,
    hash           TEXT NOT NULL
);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

-- The transactional outbox: a mail commits with the change that caused it.
CREATE TABLE mail_outbox (
    id              UUID PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    account_id      UUID REFERENCES accounts (id),
    organization_id UUID REFERENCES organizations (id),
    locale          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
CREATE INDEX mail_outbox_account ON mail_outbox (account_id);
