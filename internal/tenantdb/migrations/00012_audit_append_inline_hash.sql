-- lethe.audit_append computes a record's hash in its own body, the same
-- bytes lethe.audit_hash computes (it stays, unchanged), instead of calling
-- it: a SQL function called from PL/pgSQL is parsed and planned again in
-- every transaction, and with lethe.audit_field nine times over that was a
-- good part of a small batch's time. Its statements also keep their cached
-- plans whatever plan_cache_mode the calling transaction sets (the
-- executor's keyset batches force custom plans for their own statement).

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION lethe.audit_append(p_recorded_at timestamptz, p_actor text, p_object_kind text,
    p_object_namespace text, p_object_name text, p_object_uid text, p_action text, p_entity text,
    p_rows_affected bigint, p_subject_digest text, p_detail text)
RETURNS TABLE (entry_id bigint, entry_prev_hash bytea, entry_hash bytea)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = auto
AS $$
DECLARE
    v_prev bytea;
    v_hash bytea;
    v_id   bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(119183000495361);
    SELECT l.hash INTO v_prev FROM lethe.audit_log l ORDER BY l.id DESC LIMIT 1;
    v_prev := coalesce(v_prev, decode(repeat('00', 32), 'hex'));
    -- lethe.audit_hash, each text field as lethe.audit_field writes it.
    v_hash := sha256(v_prev
        || int8send((extract(epoch FROM p_recorded_at) * 1000000)::bigint)
        || int8send(octet_length(convert_to(p_actor, 'UTF8'))::bigint) || convert_to(p_actor, 'UTF8')
        || int8send(octet_length(convert_to(p_object_kind, 'UTF8'))::bigint) || convert_to(p_object_kind, 'UTF8')
        || int8send(octet_length(convert_to(p_object_namespace, 'UTF8'))::bigint) || convert_to(p_object_namespace, 'UTF8')
        || int8send(octet_length(convert_to(p_object_name, 'UTF8'))::bigint) || convert_to(p_object_name, 'UTF8')
        || int8send(octet_length(convert_to(p_object_uid, 'UTF8'))::bigint) || convert_to(p_object_uid, 'UTF8')
        || int8send(octet_length(convert_to(p_action, 'UTF8'))::bigint) || convert_to(p_action, 'UTF8')
        || int8send(octet_length(convert_to(p_entity, 'UTF8'))::bigint) || convert_to(p_entity, 'UTF8')
        || int8send(p_rows_affected)
        || int8send(octet_length(convert_to(p_subject_digest, 'UTF8'))::bigint) || convert_to(p_subject_digest, 'UTF8')
        || CASE WHEN p_detail = '' THEN ''::bytea
                ELSE int8send(octet_length(convert_to(p_detail, 'UTF8'))::bigint) || convert_to(p_detail, 'UTF8') END);
    INSERT INTO lethe.audit_log AS l (recorded_at, actor, object_kind, object_namespace, object_name, object_uid,
        action, entity, rows_affected, subject_digest, detail, prev_hash, hash)
    VALUES (p_recorded_at, p_actor, p_object_kind, p_object_namespace, p_object_name, p_object_uid,
        p_action, p_entity, p_rows_affected, p_subject_digest, p_detail, v_prev, v_hash)
    RETURNING l.id INTO v_id;
    RETURN QUERY SELECT v_id, v_prev, v_hash;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION lethe.audit_append(p_recorded_at timestamptz, p_actor text, p_object_kind text,
    p_object_namespace text, p_object_name text, p_object_uid text, p_action text, p_entity text,
    p_rows_affected bigint, p_subject_digest text, p_detail text)
RETURNS TABLE (entry_id bigint, entry_prev_hash bytea, entry_hash bytea)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_prev bytea;
    v_hash bytea;
    v_id   bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(119183000495361);
    SELECT l.hash INTO v_prev FROM lethe.audit_log l ORDER BY l.id DESC LIMIT 1;
    v_prev := coalesce(v_prev, decode(repeat('00', 32), 'hex'));
    v_hash := lethe.audit_hash(v_prev, p_recorded_at, p_actor, p_object_kind, p_object_namespace, p_object_name,
        p_object_uid, p_action, p_entity, p_rows_affected, p_subject_digest, p_detail);
    INSERT INTO lethe.audit_log AS l (recorded_at, actor, object_kind, object_namespace, object_name, object_uid,
        action, entity, rows_affected, subject_digest, detail, prev_hash, hash)
    VALUES (p_recorded_at, p_actor, p_object_kind, p_object_namespace, p_object_name, p_object_uid,
        p_action, p_entity, p_rows_affected, p_subject_digest, p_detail, v_prev, v_hash)
    RETURNING l.id INTO v_id;
    RETURN QUERY SELECT v_id, v_prev, v_hash;
END
$$;
-- +goose StatementEnd
