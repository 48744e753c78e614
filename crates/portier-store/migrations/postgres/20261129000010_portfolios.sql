-- Portfolios and billing (issue 7). Twin of ../sqlite/20261129000010_portfolios.sql.

-- The kinds of portfolio an environment offers ("Specialty training surgery").
CREATE TABLE portfolio_types (
    id             UUID PRIMARY KEY NOT NULL,
    environment_id UUID NOT NULL REFERENCES organizations (id),
    key            TEXT NOT NULL,
    name_en        TEXT NOT NULL,
    name_nl        TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (environment_id, key)
);

-- A person's dated file, managed and paid for by one organization at a time
-- (organization_id). state: active, deactivated (may come back), completed.
CREATE TABLE portfolios (
    id              UUID PRIMARY KEY NOT NULL,
    account_id      UUID NOT NULL REFERENCES accounts (id),
    environment_id  UUID NOT NULL REFERENCES organizations (id),
    type_key        TEXT NOT NULL,
    organization_id UUID NOT NULL REFERENCES organizations (id),
    state           TEXT NOT NULL,
    start_date      DATE NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX portfolios_account ON portfolios (account_id, state);
CREATE INDEX portfolios_organization ON portfolios (organization_id, state);

-- The days a portfolio was active, and who paid for them: from_date
-- included, until_date excluded (NULL: still). Billing counts, per month, the
-- stretches that cover its last day.
CREATE TABLE portfolio_periods (
    id              UUID PRIMARY KEY NOT NULL,
    portfolio_id    UUID NOT NULL REFERENCES portfolios (id),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    from_date       DATE NOT NULL,
    until_date      DATE
);
CREATE INDEX portfolio_periods_portfolio ON portfolio_periods (portfolio_id, from_date);
CREATE INDEX portfolio_periods_billing ON portfolio_periods (organization_id, from_date);

-- seed 001: a person generally has one active portfolio at a time; an
-- organization may allow several side by side.
ALTER TABLE organizations ADD COLUMN allow_parallel_portfolios BOOLEAN NOT NULL DEFAULT FALSE;
