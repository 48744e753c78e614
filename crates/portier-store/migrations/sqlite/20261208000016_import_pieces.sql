-- The file of an import kept for its job, in pieces of 64 KiB in order
-- (piece 0 first). Twin of ../postgres/20261208000016_import_pieces.sql.
--
-- A file kept as one value (imports.source) is held whole by every statement
-- that writes or reads it, in the connection's buffers and in the database's
-- own memory; in pieces, none of them ever holds more than one
-- (docs/IMPORTS.md#memory). imports.source is still read for an import
-- stored before this table. The pieces go when the import is done or fails,
-- and with it.
CREATE TABLE import_pieces (
    import_id BLOB NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    piece     BIGINT NOT NULL,
    bytes     BLOB NOT NULL,
    PRIMARY KEY (import_id, piece)
);
