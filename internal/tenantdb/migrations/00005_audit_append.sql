-- Appending an audit record in one statement: lethe.audit_append takes the
-- append lock, reads the chain's head and inserts the record with its hash,
-- so a change, its ledger row and its audit record can travel to the
-- database together instead of waiting on the head in between.
--
-- lethe.audit_hash computes the same hash as the operator's verifier:
-- SHA-256 over the previous hash, the time in microseconds since the Unix
-- epoch (8 bytes, big-endian), each text field as its UTF-8 length (8 bytes,
-- big-endian) followed by its bytes, the row count (8 bytes, big-endian),
-- and the detail only when it is not empty. Records written before this
-- migration verify unchanged.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION lethe.audit_field(v text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT int8send(octet_length(convert_to(v, 'UTF8'))::bigint) || convert_to(v, 'UTF8')
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION lethe.audit_hash(prev bytea, recorded_at timestamptz, actor text, object_kind text,
    object_namespace text, object_name text, object_uid text, action text, entity text, rows_affected bigint,
    subject_digest text, detail text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT sha256(prev
        || int8send((extract(epoch FROM recorded_at) * 1000000)::bigint)
        || lethe.audit_field(actor)
        || lethe.audit_field(object_kind)
        || lethe.audit_field(object_namespace)
        || lethe.audit_field(object_name)
        || lethe.audit_field(object_uid)
        || lethe.audit_field(action)
        || lethe.audit_field(entity)
        || int8send(rows_affected)
        || lethe.audit_field(subject_digest)
        || CASE WHEN detail = '' THEN ''::bytea ELSE lethe.audit_field(detail) END)
$$;
-- +goose StatementEnd

-- The lock key is the operator's audit append lock: every appender of the
-- database, old or new, takes the same one, so the chain never forks. The
-- function is VOLATILE, so the head is read after the lock is held.
-- +goose StatementBegin
CREATE FUNCTION lethe.audit_append(p_recorded_at timestamptz, p_actor text, p_object_kind text,
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

-- +goose Down
DROP FUNCTION lethe.audit_append(timestamptz, text, text, text, text, text, text, text, bigint, text, text);
DROP FUNCTION lethe.audit_hash(bytea, timestamptz, text, text, text, text, text, text, text, bigint, text, text);
DROP FUNCTION lethe.audit_field(text);
