-- A request's plan (lethe.run_plan: the keys it found before changing
-- anything) lost its rows when the run completed, and with them how many
-- rows the request had found: a status rebuilt after the run (wiped, or
-- written by a manager that died before its last status write) could say
-- what was changed but not what was found. A completed run now keeps the
-- counts and drops only the keys.

-- +goose Up
ALTER TABLE lethe.run_plan
    ADD COLUMN found  bigint,
    ADD COLUMN shared bigint;

-- +goose Down
DELETE FROM lethe.run_plan WHERE found IS NOT NULL;
ALTER TABLE lethe.run_plan
    DROP COLUMN found,
    DROP COLUMN shared;
