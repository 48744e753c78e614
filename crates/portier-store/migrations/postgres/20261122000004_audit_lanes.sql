-- Each environment's audit trail runs in several chains (lanes) side by
-- side: a transaction holds its lane's head until it commits, so with one
-- chain every audited change of an environment queued behind the one before
-- it. Existing events form lane 0, unchanged.
ALTER TABLE audit_events ADD COLUMN lane SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE audit_events DROP CONSTRAINT audit_events_environment_id_seq_key;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_chain UNIQUE (environment_id, lane, seq);
ALTER TABLE audit_events ALTER COLUMN lane DROP DEFAULT;

ALTER TABLE audit_heads ADD COLUMN lane SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE audit_heads DROP CONSTRAINT audit_heads_pkey;
ALTER TABLE audit_heads ADD PRIMARY KEY (environment_id, lane);
ALTER TABLE audit_heads ALTER COLUMN lane DROP DEFAULT;
