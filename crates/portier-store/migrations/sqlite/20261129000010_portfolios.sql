-- Portfolios and billing (issue 7). Twin of ../postgres/20261129000010_portfolios.sql.

-- The kinds of portfolio an environment offers ("Specialty training surgery").
CREATE TABLE portfolio_types (
    id             BLOB PRIMARY KEY NOT NULL,
    environment_id BLOB NOT NULL REFERENCES organizations (id),
    key            TEXT NOT NULL,
    name_en        TEXT NOT NULL,
    name_nl        TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    UNIQUE (environment_id, key)
);

-- A person's dated file, managed and paid for by one organization at a time
-- (organization_id). state: active, deactivated (may come back), completed.
CREATE TABLE portfolios (
    id              BLOB PRIMARY KEY NOT NULL,
    account_id      BLOB NOT NULL REFERENCES accounts (id),
    environment_id  BLOB NOT NULL REFERENCES organizations (id),
    type_key        TEXT NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    state           TEXT NOT NULL,
    start_date      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX portfolios_account ON portfolios (account_id, state);
CREATE INDEX portfolios_organization ON portfolios (organization_id, state);

-- The days a portfolio was active, and who paid for them: from_date
-- included, until_date excluded (NULL: still). Billing counts, per month, the
-- stretches that cover its last day.
CREATE TABLE portfolio_periods (
    id              BLOB PRIMARY KEY NOT NULL,
    portfolio_id    BLOB NOT NULL REFERENCES portfolios (id),
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    from_date       TEXT NOT NULL,
    until_date      TEXT
);
CREATE INDEX portfolio_periods_portfolio ON portfolio_periods (portfolio_id, from_date);
CREATE INDEX portfolio_periods_billing ON portfolio_periods (organization_id, from_date);

-- seed 001: a person generally has one active portfolio at a time; an
-- organization may allow several side by side.
ALTER TABLE organizations ADD COLUMN allow_parallel_portfolios BOOLEAN NOT NULL DEFAULT FALSE;
