-- Rows whose identifying columns a PseudonymizationJob replaced, by table
-- and primary key, each written in the same transaction as the change. A
-- keyed pseudonym is derived from an identifier the job may replace too,
-- and a random one from nothing at all, so a pseudonymized row cannot be
-- recognised by its values: this table is how a resumed or repeated job
-- knows a row is done. It holds keys only, nothing personal.

-- +goose Up
CREATE TABLE lethe.pseudonymized_rows (
    table_name text        NOT NULL,
    key        text        NOT NULL,
    done_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, key)
);

-- +goose Down
DROP TABLE lethe.pseudonymized_rows;
