-- Each environment's audit trail runs in several chains (lanes) side by
-- side: a transaction holds its lane's head until it commits, so with one
-- chain every audited change of an environment queued behind the one before
-- it. Existing events form lane 0, unchanged. SQLite cannot change a table's
-- unique constraint in place: the tables are rebuilt.
DROP TRIGGER audit_events_append_only_update;
DROP TRIGGER audit_events_append_only_delete;

CREATE TABLE audit_events_lanes (
    id               BLOB PRIMARY KEY NOT NULL,
    environment_id   BLOB NOT NULL,
    lane             INTEGER NOT NULL,
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
    UNIQUE (environment_id, lane, seq)
);
INSERT INTO audit_events_lanes (id, environment_id, lane, seq, at, actor, actor_account_id, action,
    organization_id, target_type, target_id, changes, client_addr, prev_hash, hash)
SELECT id, environment_id, 0, seq, at, actor, actor_account_id, action,
    organization_id, target_type, target_id, changes, client_addr, prev_hash, hash
FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_lanes RENAME TO audit_events;
CREATE INDEX audit_events_organization ON audit_events (organization_id, at);
CREATE INDEX audit_events_target ON audit_events (target_type, target_id);

CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;

CREATE TABLE audit_heads_lanes (
    environment_id BLOB NOT NULL,
    lane           INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    hash           TEXT NOT NULL,
    PRIMARY KEY (environment_id, lane)
);
INSERT INTO audit_heads_lanes (environment_id, lane, seq, hash)
SELECT environment_id, 0, seq, hash FROM audit_heads;
DROP TABLE audit_heads;
ALTER TABLE audit_heads_lanes RENAME TO audit_heads;
