-- Counters for throttling failed sign-ins and reset requests, shared by every
-- node (twin: ../postgres/20261122000002_throttles.sql).
CREATE TABLE throttles (
    key          TEXT PRIMARY KEY NOT NULL,
    count        INTEGER NOT NULL,
    window_start TEXT NOT NULL
);
