-- Transfers of a portfolio between organizations that wait for the other
-- side's consent (issue 7, seed 001). Twin of
-- ../sqlite/20261129000011_portfolio_transfers.sql.
--
-- asked_by: 'from' (the managing organization offers it) or 'to' (the
-- receiving organization asks to take it over); the other side answers.
-- resume: reactivate it when accepted (it was deactivated when its member
-- left the managing organization). state: pending, accepted, declined,
-- withdrawn.
CREATE TABLE portfolio_transfers (
    id                   UUID PRIMARY KEY NOT NULL,
    portfolio_id         UUID NOT NULL REFERENCES portfolios (id),
    from_organization_id UUID NOT NULL REFERENCES organizations (id),
    to_organization_id   UUID NOT NULL REFERENCES organizations (id),
    asked_by             TEXT NOT NULL,
    resume               BOOLEAN NOT NULL DEFAULT FALSE,
    state                TEXT NOT NULL DEFAULT 'pending',
    requested_at         TIMESTAMPTZ NOT NULL,
    decided_at           TIMESTAMPTZ
);
-- One open request per portfolio.
CREATE UNIQUE INDEX portfolio_transfers_open ON portfolio_transfers (portfolio_id) WHERE state = 'pending';
CREATE INDEX portfolio_transfers_from ON portfolio_transfers (from_organization_id, state);
CREATE INDEX portfolio_transfers_to ON portfolio_transfers (to_organization_id, state);
