-- Every completed erasure leaves a tombstone per root entity of the subject
-- it found: the keyed blind index of each identifier it matched (hex
-- HMAC-SHA-256, keyed per namespace, over the identifier's normal form:
-- lower-cased, or the digits of a phone number), never the identifier
-- itself. It is written in the transaction that completes the erasure's
-- run, so it exists if and only if the erasure happened. After a restore
-- from a backup taken before the erasure, the manager writes the tombstones
-- it keeps outside the database back here and erases again the root rows
-- whose identifier columns carry the same blind indexes.

-- +goose Up
CREATE TABLE lethe.erasure_tombstones (
    request_uid    text        NOT NULL,
    request_name   text        NOT NULL,
    subject_type   text        NOT NULL,
    subject_digest text        NOT NULL,
    method         text        NOT NULL,
    overrides      jsonb       NOT NULL DEFAULT '{}',
    entity         text        NOT NULL,
    table_name     text        NOT NULL,
    identifiers    text[]      NOT NULL,
    columns        text[]      NOT NULL,
    blind_indexes  text[]      NOT NULL,
    erased_at      timestamptz NOT NULL,
    PRIMARY KEY (request_uid, entity)
);

-- +goose Down
DROP TABLE lethe.erasure_tombstones;
