-- Portier's foundation schema, SQLite dialect. Its twin is
-- ../postgres/20261122000001_foundation.sql; a test checks that both define the
-- same tables and columns. Ids are UUIDs (BLOB here), times RFC 3339 text,
-- flags integers, structured values JSON text.

CREATE TABLE organizations (
    id                 BLOB PRIMARY KEY NOT NULL,
    parent_id          BLOB REFERENCES organizations (id),
    environment_id     BLOB NOT NULL,
    -- Materialized path "root/…/self/": a node's descendants are a prefix range.
    path               TEXT NOT NULL UNIQUE,
    name               TEXT NOT NULL,
    require_two_factor INTEGER NOT NULL DEFAULT 0,
    billing_cycle      TEXT NOT NULL DEFAULT 'monthly',
    locale             TEXT NOT NULL DEFAULT 'en',
    password_policy    TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX organizations_parent ON organizations (parent_id);
CREATE INDEX organizations_environment ON organizations (environment_id);

CREATE TABLE accounts (
    id           BLOB PRIMARY KEY NOT NULL,
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
    disabled     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    activated_at TEXT
);

CREATE TABLE memberships (
    id              BLOB PRIMARY KEY NOT NULL,
    account_id      BLOB NOT NULL REFERENCES accounts (id),
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    active          INTEGER NOT NULL DEFAULT 1,
    staff_code      TEXT,
    description     TEXT,
    job_title       TEXT,
    labels          TEXT NOT NULL DEFAULT '[]',
    invited_by      BLOB REFERENCES accounts (id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (account_id, organization_id),
    UNIQUE (organization_id, staff_code)
);
CREATE INDEX memberships_organization ON memberships (organization_id);

CREATE TABLE roles (
    id                    BLOB PRIMARY KEY NOT NULL,
    -- NULL for the built-ins, which every organization has.
    organization_id       BLOB REFERENCES organizations (id),
    key                   TEXT NOT NULL,
    name_en               TEXT NOT NULL,
    name_nl               TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    requires_registration TEXT,
    portfolio_types       TEXT NOT NULL DEFAULT '[]',
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    UNIQUE (organization_id, key)
);

CREATE TABLE role_permissions (
    role_id    BLOB NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE membership_roles (
    membership_id BLOB NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    role_id       BLOB NOT NULL REFERENCES roles (id),
    PRIMARY KEY (membership_id, role_id)
);
CREATE INDEX membership_roles_role ON membership_roles (role_id);

-- Activation and password-reset tokens; only the SHA-256 hash is kept.
CREATE TABLE tokens (
    id              BLOB PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,
    account_id      BLOB NOT NULL REFERENCES accounts (id),
    organization_id BLOB REFERENCES organizations (id),
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    used_at         TEXT,
    replaced_at     TEXT
);
CREATE INDEX tokens_account ON tokens (account_id, kind);

-- Password hashes, TOTP secrets, recovery codes, passkeys.
CREATE TABLE credentials (
    id           BLOB PRIMARY KEY NOT NULL,
    account_id   BLOB NOT NULL REFERENCES accounts (id),
    kind         TEXT NOT NULL,
    label        TEXT,
    secret       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);
CREATE INDEX credentials_account ON credentials (account_id, kind);

-- Console sessions, kept in the database so every node knows them.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY NOT NULL,
    account_id   BLOB REFERENCES accounts (id),
    data         TEXT NOT NULL DEFAULT '{}',
    user_agent   TEXT,
    client_addr  TEXT,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    account_id      BLOB REFERENCES accounts (id),
    name            TEXT NOT NULL,
    token_hash      TEXT NOT NULL UNIQUE,
    permissions     TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    last_used_at    TEXT,
    revoked_at      TEXT
);
CREATE INDEX api_tokens_organization ON api_tokens (organization_id);

-- Append-only, hash-chained per environment (the nil id chains platform events).
CREATE TABLE audit_events (
    id               BLOB PRIMARY KEY NOT NULL,
    environment_id   BLOB NOT NULL,
    seq              INTEGER NOT NULL,
    at               TEXT NOT NULL,
    actor            TEXT NOT NULL,
    actor_account_id BLOB,
    action           TEXT NOT NULL,
    organization_id  BLOB,
    target_type      TEXT NOT NULL,
    target_id        TEXT NOT NULL,
    changes          TEXT NOT NULL,
    client_addr      TEXT,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL,
    UNIQUE (environment_id, seq)
);
CREATE INDEX audit_events_organization ON audit_events (organization_id, at);
CREATE INDEX audit_events_target ON audit_events (target_type, target_id);

-- The head of each chain; updating it serializes writers of one environment.
CREATE TABLE audit_heads (
    environment_id BLOB PRIMARY KEY NOT NULL,
    seq            INTEGER NOT NULL,
    hash           TEXT NOT NULL
);

CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;

-- The transactional outbox: a mail commits with the change that caused it.
CREATE TABLE mail_outbox (
    id              BLOB PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    account_id      BLOB REFERENCES accounts (id),
    organization_id BLOB REFERENCES organizations (id),
    locale          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
CREATE INDEX mail_outbox_account ON mail_outbox (account_id);
