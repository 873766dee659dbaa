-- Bookkeeping of data subject requests: what was asked, the rows planned
-- per entity, and a ledger of the steps done, each written in the same
-- transaction as the change it records, so an interrupted request resumes
-- without repeating a step. Restrictions and pseudonym numbers per subject
-- digest (never an identifier).

-- +goose Up
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

CREATE TABLE lethe.restrictions (
    subject_type   text        NOT NULL,
    subject_digest text        NOT NULL,
    request_uid    text        NOT NULL,
    restricted_at  timestamptz NOT NULL,
    PRIMARY KEY (subject_type, subject_digest)
);

CREATE TABLE lethe.pseudonyms (
    subject_digest text        PRIMARY KEY,
    n              bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- +goose Down
DROP TABLE lethe.pseudonyms;
DROP TABLE lethe.restrictions;
DROP TABLE lethe.request_steps;
DROP TABLE lethe.request_plan;
DROP TABLE lethe.requests;
