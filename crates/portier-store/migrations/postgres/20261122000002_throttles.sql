-- Counters for throttling failed sign-ins and reset requests, shared by every
-- node (twin: ../sqlite/20261122000002_throttles.sql).
CREATE TABLE throttles (
    key          TEXT PRIMARY KEY NOT NULL,
    count        BIGINT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL
);
