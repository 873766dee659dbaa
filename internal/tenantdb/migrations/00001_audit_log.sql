-- The audit log: append-only and hash-chained. Each record carries the hash
-- of the previous one; the triggers refuse UPDATE, DELETE and TRUNCATE from
-- every role, the table owner included.

-- +goose Up
CREATE TABLE lethe.audit_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recorded_at      timestamptz NOT NULL,
    actor            text        NOT NULL,
    object_kind      text        NOT NULL,
    object_namespace text        NOT NULL,
    object_name      text        NOT NULL,
    object_uid       text        NOT NULL,
    action           text        NOT NULL,
    entity           text        NOT NULL DEFAULT '',
    rows_affected    bigint      NOT NULL DEFAULT 0,
    subject_digest   text        NOT NULL DEFAULT '',
    prev_hash        bytea       NOT NULL,
    hash             bytea       NOT NULL UNIQUE
);

-- +goose StatementBegin
CREATE FUNCTION lethe.audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'lethe.audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON lethe.audit_log
    FOR EACH ROW EXECUTE FUNCTION lethe.audit_log_refuse_change();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON lethe.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION lethe.audit_log_refuse_change();

-- +goose Down
DROP TABLE lethe.audit_log;
DROP FUNCTION lethe.audit_log_refuse_change();
