-- The batch size a run of listed steps (a request's plan) began with. Its
-- batches are numbered by it in lethe.run_batches, so a run resumed by a
-- manager with another batch size (--request-batch-size, an upgrade) goes
-- on with the size its ledger counts in, never skipping rows as done. NULL
-- for runs recorded before, which go on with the manager's batch size.

-- +goose Up
ALTER TABLE lethe.runs ADD COLUMN batch_size integer CHECK (batch_size > 0);

-- +goose Down
ALTER TABLE lethe.runs DROP COLUMN batch_size;
