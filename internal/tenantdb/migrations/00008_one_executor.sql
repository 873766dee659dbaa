-- One executor for requests, retention policies and pseudonymization jobs:
-- one record of runs, one plan table, one checkpoint table and one ledger.
--
-- lethe.runs         every run: a request in this database, a policy's run,
--                    a job; its state.
-- lethe.run_plan     the keys a run found before changing anything (requests).
-- lethe.run_steps    a step's checkpoint per part (the key range one worker
--                    takes): the last key done, counts, keys found locked and
--                    their retries, written with the batch it records.
-- lethe.run_batches  the ledger: every batch that ran, in the transaction of
--                    its change, with the keys of the rows it changed (so what
--                    was done to each row, and by which run, is recorded), the
--                    action, the row count, and what other tables lost or had
--                    changed through foreign keys (effects, JSON).
--
-- The data of the tables it replaces is carried over, so a run in progress
-- when the operator is upgraded resumes under the new version: a request's
-- plan and the batches it did (their keys were not recorded then: keys is
-- NULL), and a retention or pseudonymization run's checkpoints.

-- +goose Up
CREATE TABLE lethe.runs (
    uid            text        PRIMARY KEY,
    kind           text        NOT NULL CHECK (kind IN ('Request', 'Policy', 'Job')),
    type           text        NOT NULL,
    subject_type   text        NOT NULL DEFAULT '',
    subject_digest text        NOT NULL DEFAULT '',
    object_uid     text        NOT NULL DEFAULT '',
    state          text        NOT NULL CHECK (state IN ('InProgress', 'Completed')),
    created_at     timestamptz NOT NULL,
    completed_at   timestamptz
);

CREATE TABLE lethe.run_plan (
    run_uid     text   NOT NULL REFERENCES lethe.runs (uid),
    step        text   NOT NULL,
    keys        text[] NOT NULL,
    shared_keys text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_uid, step)
);

CREATE TABLE lethe.run_steps (
    run_uid        text        NOT NULL REFERENCES lethe.runs (uid),
    step           text        NOT NULL,
    part           integer     NOT NULL DEFAULT 0,
    entity         text        NOT NULL,
    lo             text,
    hi             text,
    cutoff         timestamptz,
    last_key       text,
    keyset_done    boolean     NOT NULL DEFAULT false,
    batches        integer     NOT NULL DEFAULT 0,
    matched        bigint      NOT NULL DEFAULT 0,
    changed        bigint      NOT NULL DEFAULT 0,
    locked_keys    text[]      NOT NULL DEFAULT '{}',
    retries        integer     NOT NULL DEFAULT 0,
    done           boolean     NOT NULL DEFAULT false,
    archive_sha256 text,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (run_uid, step, part)
);

CREATE TABLE lethe.run_batches (
    run_uid    text        NOT NULL REFERENCES lethe.runs (uid),
    step       text        NOT NULL,
    part       integer     NOT NULL DEFAULT 0,
    batch      integer     NOT NULL,
    entity     text        NOT NULL,
    table_name text        NOT NULL,
    action     text        NOT NULL,
    rows       bigint      NOT NULL,
    keys       text[],
    effects    jsonb,
    done_at    timestamptz NOT NULL,
    PRIMARY KEY (run_uid, step, part, batch)
);
CREATE INDEX run_batches_table ON lethe.run_batches (table_name, action);

INSERT INTO lethe.runs (uid, kind, type, subject_type, subject_digest, state, created_at, completed_at)
SELECT uid, 'Request', type, subject_type, subject_digest, state, created_at, completed_at FROM lethe.requests;

INSERT INTO lethe.run_plan (run_uid, step, keys, shared_keys)
SELECT request_uid, entity, keys, shared_keys FROM lethe.request_plan;

INSERT INTO lethe.run_batches (run_uid, step, part, batch, entity, table_name, action, rows, keys, done_at)
SELECT request_uid, entity, 0, batch, entity, '', action, rows, NULL, done_at FROM lethe.request_steps;

INSERT INTO lethe.runs (uid, kind, type, state, created_at, completed_at)
SELECT run_id,
       CASE WHEN run_id LIKE 'pj-%' THEN 'Job' ELSE 'Policy' END,
       CASE WHEN run_id LIKE 'pj-%' THEN 'Pseudonymization' ELSE 'Retention' END,
       CASE WHEN bool_and(done) THEN 'Completed' ELSE 'InProgress' END,
       min(updated_at),
       CASE WHEN bool_and(done) THEN max(updated_at) END
FROM lethe.retention_progress
WHERE run_id NOT IN (SELECT uid FROM lethe.runs)
GROUP BY run_id;

INSERT INTO lethe.run_steps (run_uid, step, part, entity, lo, hi, cutoff, last_key, keyset_done, batches, matched,
    changed, locked_keys, retries, done, archive_sha256, updated_at)
SELECT run_id, rule, part, entity,
    -- A part's lower bound was inclusive (an integer key); it is now
    -- exclusive.
    CASE WHEN lo IS NULL THEN NULL ELSE (lo::numeric - 1)::text END,
    hi, cutoff, last_key, keyset_done, batches, matched,
    changed, locked_keys, retries, done, archive_sha256, updated_at
FROM lethe.retention_progress;

DROP TABLE lethe.request_steps;
DROP TABLE lethe.request_plan;
DROP TABLE lethe.requests;
DROP TABLE lethe.retention_progress;

-- +goose Down
CREATE TABLE lethe.requests (
    uid            text        PRIMARY KEY,
    type           text        NOT NULL,
    subject_type   text        NOT NULL,
    subject_digest text        NOT NULL,
    state          text        NOT NULL CHECK (state IN ('InProgress', 'Completed')),
    created_at     timestamptz NOT NULL,
    completed_at   timestamptz
);
CREATE TABLE lethe.request_plan (
    request_uid text   NOT NULL REFERENCES lethe.requests (uid),
    entity      text   NOT NULL,
    keys        text[] NOT NULL,
    shared_keys text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (request_uid, entity)
);
CREATE TABLE lethe.request_steps (
    request_uid text        NOT NULL REFERENCES lethe.requests (uid),
    entity      text        NOT NULL,
    batch       integer     NOT NULL,
    action      text        NOT NULL,
    rows        bigint      NOT NULL,
    done_at     timestamptz NOT NULL,
    PRIMARY KEY (request_uid, entity, batch)
);
CREATE TABLE lethe.retention_progress (
    run_id         text        NOT NULL,
    rule           text        NOT NULL,
    part           integer     NOT NULL DEFAULT 0,
    lo             text,
    hi             text,
    entity         text        NOT NULL,
    cutoff         timestamptz NOT NULL,
    last_key       text,
    keyset_done    boolean     NOT NULL DEFAULT false,
    batches        integer     NOT NULL DEFAULT 0,
    matched        bigint      NOT NULL DEFAULT 0,
    changed        bigint      NOT NULL DEFAULT 0,
    locked_keys    text[]      NOT NULL DEFAULT '{}',
    retries        integer     NOT NULL DEFAULT 0,
    done           boolean     NOT NULL DEFAULT false,
    archive_sha256 text,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (run_id, rule, part)
);
INSERT INTO lethe.requests SELECT uid, type, subject_type, subject_digest, state, created_at, completed_at
    FROM lethe.runs WHERE kind = 'Request';
INSERT INTO lethe.request_plan SELECT run_uid, step, keys, shared_keys FROM lethe.run_plan
    WHERE run_uid IN (SELECT uid FROM lethe.requests);
INSERT INTO lethe.request_steps SELECT run_uid, step, batch, action, rows, done_at FROM lethe.run_batches
    WHERE run_uid IN (SELECT uid FROM lethe.requests) AND part = 0;
INSERT INTO lethe.retention_progress SELECT s.run_uid, s.step, s.part,
    CASE WHEN s.lo IS NULL THEN NULL ELSE (s.lo::numeric + 1)::text END, s.hi, s.entity, COALESCE(s.cutoff, s.updated_at),
    s.last_key, s.keyset_done, s.batches, s.matched, s.changed, s.locked_keys, s.retries, s.done, s.archive_sha256, s.updated_at
    FROM lethe.run_steps s JOIN lethe.runs r ON r.uid = s.run_uid WHERE r.kind <> 'Request';
DROP TABLE lethe.run_batches;
DROP TABLE lethe.run_steps;
DROP TABLE lethe.run_plan;
DROP TABLE lethe.runs;
