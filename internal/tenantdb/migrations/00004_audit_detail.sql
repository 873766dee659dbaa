-- What changed, old and new value, for records whose change is not just a
-- row count (a role's permissions, scopes and members). Part of the chain
-- hash when not empty. Adding a column fires no row trigger, so the log
-- stays append-only.

-- +goose Up
ALTER TABLE lethe.audit_log ADD COLUMN detail text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE lethe.audit_log DROP COLUMN detail;
