-- Retention runs: per run, rule and part (a range of the primary key that
-- one worker takes), the keyset checkpoint (the last primary key done),
-- counts, and the keys found locked, each written in the same
-- transaction as the batch it records, so a run stopped anywhere resumes
-- after its last committed batch. Archives hold the CSV of archived rows in
-- batch order; archived_rows remembers rows archived and kept, so they are
-- not archived again. Restricted rows are the rows of restricted subjects,
-- which retention skips.

-- +goose Up
CREATE TABLE lethe.retention_progress (
    run_id      text        NOT NULL,
    rule        text        NOT NULL,
    part        integer     NOT NULL DEFAULT 0,
    lo          text,
    hi          text,
    entity      text        NOT NULL,
    cutoff      timestamptz NOT NULL,
    last_key    text,
    keyset_done boolean     NOT NULL DEFAULT false,
    batches     integer     NOT NULL DEFAULT 0,
    matched     bigint      NOT NULL DEFAULT 0,
    changed     bigint      NOT NULL DEFAULT 0,
    locked_keys text[]      NOT NULL DEFAULT '{}',
    retries     integer     NOT NULL DEFAULT 0,
    done        boolean     NOT NULL DEFAULT false,
    archive_sha256 text,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (run_id, rule, part)
);

CREATE TABLE lethe.retention_archives (
    run_id  text    NOT NULL,
    rule    text    NOT NULL,
    batch   integer NOT NULL,
    rows    integer NOT NULL,
    csv     text    NOT NULL,
    PRIMARY KEY (run_id, rule, batch)
);

CREATE TABLE lethe.retention_archived_rows (
    policy_uid text NOT NULL,
    rule       text NOT NULL,
    key        text NOT NULL,
    PRIMARY KEY (policy_uid, rule, key)
);

CREATE TABLE lethe.restricted_rows (
    subject_type   text NOT NULL,
    subject_digest text NOT NULL,
    entity         text NOT NULL,
    key            text NOT NULL,
    PRIMARY KEY (subject_type, subject_digest, entity, key)
);
CREATE INDEX restricted_rows_entity_key ON lethe.restricted_rows (entity, key);

-- +goose Down
DROP TABLE lethe.restricted_rows;
DROP TABLE lethe.retention_archived_rows;
DROP TABLE lethe.retention_archives;
DROP TABLE lethe.retention_progress;
