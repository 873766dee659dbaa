-- Rows an erasure request masked, by table and key, each written in the
-- same transaction as the change. A masked value cannot always be told from
-- one a retention rule or a PseudonymizationJob would write (a subject's
-- pseudonym is not a row's, a replacement is not a hash), so this table is
-- how they know the row is done: whoever changed it first, no strategy is
-- applied twice to a value. It holds keys only, nothing personal.

-- +goose Up
CREATE TABLE lethe.erased_rows (
    table_name text        NOT NULL,
    key        text        NOT NULL,
    done_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, key)
);

-- +goose Down
DROP TABLE lethe.erased_rows;
