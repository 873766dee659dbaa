-- Archives as governed data: an archive's rows can be found per subject, so
-- an access request exports them, an erasure removes them, and an archive
-- expires or is deleted as a whole.
--
-- lethe.archives       one row per archive (a run's rule): the entity, the
--                      CSV header, its rows, when it was written, and its state:
--                      Active, Expired (archive.retainFor passed) or Deleted
--                      (an administrator listed it in spec.archive.delete).
-- lethe.archived_rows  every archived row: its batch and place in the batch
--                      (so the archive's CSV is its lines in that order), its
--                      entity and key, the subject it belongs to where the
--                      entity is or reaches a subject's root (the subject
--                      type, the subject's salted digest over all the root's
--                      identifiers, and a blind index: one keyed HMAC per
--                      identifier, never the identifier), and its CSV line.
--
-- lethe.retention_archives keeps each batch's CSV, as it was, so an
-- archive's bytes and its SHA-256 are what they always were; when an
-- erasure removes rows of an archive, the CSV of their batch is written
-- again from the lines that remain. Archives written before this version
-- have no rows here: they are listed, expired and deleted, but their rows
-- belong to no subject.

-- +goose Up
CREATE TABLE lethe.archives (
    run_id     text        NOT NULL,
    rule       text        NOT NULL,
    entity     text        NOT NULL,
    header     text        NOT NULL,
    rows       bigint      NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    state      text        NOT NULL DEFAULT 'Active' CHECK (state IN ('Active', 'Expired', 'Deleted')),
    ended_at   timestamptz,
    PRIMARY KEY (run_id, rule)
);

CREATE TABLE lethe.archived_rows (
    run_id         text    NOT NULL,
    rule           text    NOT NULL,
    batch          integer NOT NULL,
    ord            integer NOT NULL,
    entity         text    NOT NULL,
    key            text    NOT NULL,
    subject_type   text,
    subject_digest text,
    subject_index  text[],
    line           text    NOT NULL,
    PRIMARY KEY (run_id, rule, batch, ord),
    FOREIGN KEY (run_id, rule) REFERENCES lethe.archives (run_id, rule)
);
CREATE INDEX archived_rows_subject ON lethe.archived_rows USING gin (subject_index);

INSERT INTO lethe.archives (run_id, rule, entity, header, rows, created_at)
SELECT a.run_id, a.rule,
    COALESCE((SELECT min(s.entity) FROM lethe.run_steps s WHERE s.run_uid = a.run_id AND s.step = a.rule), ''),
    substr(a.csv, 1, position(E'\r\n' IN a.csv) + 1),
    (SELECT sum(b.rows) FROM lethe.retention_archives b WHERE b.run_id = a.run_id AND b.rule = a.rule),
    COALESCE((SELECT r.created_at FROM lethe.runs r WHERE r.uid = a.run_id), now())
FROM lethe.retention_archives a
WHERE a.batch = (SELECT min(b.batch) FROM lethe.retention_archives b WHERE b.run_id = a.run_id AND b.rule = a.rule);

-- +goose Down
DROP TABLE lethe.archived_rows;
DROP TABLE lethe.archives;
