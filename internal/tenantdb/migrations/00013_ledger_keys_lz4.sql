-- The ledger's keys (lethe.run_batches.keys: every key a batch changed,
-- up to a batchSize of them in one array) are compressed with lz4 where the
-- server has it (PostgreSQL 14 and later, built with lz4): compressing a
-- batch's 10,000 keys with the default pglz took 3 to 5% of the batch's
-- time, lz4 a fraction of that, for about the same size. A server without
-- lz4 keeps pglz. Only values written from now on are affected.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE 'ALTER TABLE lethe.run_batches ALTER COLUMN keys SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE 'ALTER TABLE lethe.run_batches ALTER COLUMN keys SET COMPRESSION DEFAULT';
EXCEPTION WHEN syntax_error THEN
    NULL;
END
$$;
-- +goose StatementEnd
