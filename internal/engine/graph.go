package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// graphBatches runs a keyset batch's graph steps (Step.Graph) inside tx,
// each as one batch of the keyset batch's number, with its ledger row,
// marks and audit record.
func graphBatches(ctx context.Context, tx pgx.Tx, run *Run, steps []Step, part, batch int) error {
	for i := range steps {
		gs := &steps[i]
		if err := gs.check(); err != nil {
			return err
		}
		if len(gs.Keys) == 0 {
			continue
		}
		var got batchResult
		bs := &batchSQL{run: run, step: gs, part: part, batch: batch, sel: selection{keys: gs.Keys}}
		if err := execBatch(ctx, tx, bs, &got); err != nil {
			return fmt.Errorf("step %s: %w", gs.name(), err)
		}
	}
	return nil
}

// GraphStepName names a step of a keyset step's graph (Step.Graph): the
// step's name, a slash and the entity's.
func GraphStepName(step, entity string) string { return step + "/" + entity }

// graphResults sums, per graph step of s, what the ledger records, with
// the effects of their deletes.
func graphResults(ctx context.Context, pool *pgxpool.Pool, run *Run, s *Step) ([]StepResult, Effects, error) {
	if s.Graph == nil {
		return nil, nil, nil
	}
	rows, err := pool.Query(ctx, `SELECT step, min(entity), min(action), sum(rows)::bigint,
			COALESCE(jsonb_agg(effects) FILTER (WHERE effects IS NOT NULL), '[]')
		FROM lethe.run_batches WHERE run_uid = $1 AND starts_with(step, $2) GROUP BY step ORDER BY step`, run.UID, GraphStepName(s.name(), ""))
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []StepResult
	var all Effects
	for rows.Next() {
		var r StepResult
		var effects []Effects
		if err := rows.Scan(&r.Step, &r.Entity, &r.Action, &r.Changed, &effects); err != nil {
			return nil, nil, err
		}
		for _, e := range effects {
			r.Effects = r.Effects.Add(e)
		}
		all = all.Add(r.Effects)
		r.Step = strings.TrimPrefix(r.Step, GraphStepName(s.name(), ""))
		out = append(out, r)
	}
	return out, all, rows.Err()
}
