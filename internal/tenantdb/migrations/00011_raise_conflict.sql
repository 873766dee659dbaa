-- lethe.raise_conflict fails the statement that calls it with SQLSTATE
-- 40001 (serialization_failure) and the given message. A keyset batch of
-- the executor that updates the rows it selected through their row
-- versions (ctid) calls it when one of them was changed by another
-- transaction in between, so the batch rolls back and is done again by
-- key. VOLATILE, so it is never called while a statement is planned.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION lethe.raise_conflict(message text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'serialization_failure', MESSAGE = message;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION lethe.raise_conflict(text);
