-- Imports of members from a CSV or XLSX file (issue 9). Twin of
-- ../sqlite/20261129000013_imports.sql.
--
-- state: planned (checked, waiting for a confirmation: the console's dry
-- run), running (a job that commits in chunks; resumed after a restart from
-- done_rows), done, failed (nothing more will be written; error says why),
-- cancelled. source is the file as uploaded, so that a job can resume and a
-- planned import can run without a second upload. done_rows counts the rows
-- whose chunk has committed: a chunk, its members, their audit events and
-- mails, its report rows and the new done_rows commit in one transaction.
CREATE TABLE imports (
    id              UUID PRIMARY KEY NOT NULL,
    organization_id UUID NOT NULL REFERENCES organizations (id),
    environment_id  UUID NOT NULL REFERENCES organizations (id),
    actor           JSONB NOT NULL,
    client_addr     TEXT,
    file_name       TEXT,
    content_type    TEXT NOT NULL,
    source          BYTEA,
    state           TEXT NOT NULL,
    invite          BOOLEAN NOT NULL,
    skip_invalid    BOOLEAN NOT NULL,
    total_rows      BIGINT NOT NULL,
    done_rows       BIGINT NOT NULL DEFAULT 0,
    new_count       BIGINT NOT NULL DEFAULT 0,
    reused_count    BIGINT NOT NULL DEFAULT 0,
    member_count    BIGINT NOT NULL DEFAULT 0,
    invalid_count   BIGINT NOT NULL DEFAULT 0,
    invitations_held BOOLEAN NOT NULL DEFAULT FALSE,
    error           TEXT,
    lease_until     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ
);
CREATE INDEX imports_organization ON imports (organization_id, created_at);
CREATE INDEX imports_running ON imports (state, lease_until);

-- The report of an import, one row per data row of the file (row: its line
-- number in the file, the header being row 1). outcome: new, reused,
-- already_member, invalid. account_id: the account imported (new, reused),
-- so that held invitations can be sent later.
CREATE TABLE import_rows (
    import_id  UUID NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_number BIGINT NOT NULL,
    outcome    TEXT NOT NULL,
    field      TEXT,
    message    TEXT,
    account_id UUID,
    PRIMARY KEY (import_id, row_number)
);
