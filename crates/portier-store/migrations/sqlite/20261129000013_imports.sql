-- Imports of members from a CSV or XLSX file (issue 9). Twin of
-- ../postgres/20261129000013_imports.sql.
--
-- state: planned (checked, waiting for a confirmation: the console's dry
-- run), running (a job that commits in chunks; resumed after a restart from
-- done_rows), done, failed (nothing more will be written; error says why),
-- cancelled. source is the file as uploaded, so that a job can resume and a
-- planned import can run without a second upload. done_rows counts the rows
-- whose chunk has committed: a chunk, its members, their audit events and
-- mails, its report rows and the new done_rows commit in one transaction.
CREATE TABLE imports (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    environment_id  BLOB NOT NULL REFERENCES organizations (id),
    actor           TEXT NOT NULL,
    client_addr     TEXT,
    file_name       TEXT,
    content_type    TEXT NOT NULL,
    source          BLOB,
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
    lease_until     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT
);
CREATE INDEX imports_organization ON imports (organization_id, created_at);
CREATE INDEX imports_running ON imports (state, lease_until);

-- The report of an import, one row per data row of the file (row: its line
-- number in the file, the header being row 1). outcome: new, reused,
-- already_member, invalid. account_id: the account imported (new, reused),
-- so that held invitations can be sent later.
CREATE TABLE import_rows (
    import_id  BLOB NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_number BIGINT NOT NULL,
    outcome    TEXT NOT NULL,
    field      TEXT,
    message    TEXT,
    account_id BLOB,
    PRIMARY KEY (import_id, row_number)
);
