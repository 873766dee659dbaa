package dsr

import (
	"context"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// DeleteBlockedError refuses an erasure whose deletes a foreign key would
// refuse: a table outside the map, or rows that stay through NOT NULL
// columns, refer to the subject's rows. Nothing was changed; each problem
// names the table, its columns, the constraint and the ways to fix it.
type DeleteBlockedError struct{ Problems []string }

func (e *DeleteBlockedError) Error() string {
	return "the erasure would delete rows other rows still refer to, so nothing was changed: " + strings.Join(e.Problems, "; ")
}

// checkDeletes checks, before the plan is recorded, every foreign key that
// would refuse one of the plan's deletes against the subject's rows.
func checkDeletes(ctx context.Context, q tenantdb.BatchQuerier, er Erasure, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog,
	byName map[string]*privacyv1alpha1.Entity, plan *engine.Plan) error {
	// The plan deletes entity by entity, in its order: rows deleted by an
	// earlier step (or by the same statement) no longer refer to anything
	// when a step runs; rows a later step deletes still do.
	type done struct {
		target *engine.Target
		keys   []string
	}
	deleted := map[string]done{}
	var checks []engine.BlockCheck
	for i := range plan.Entities {
		pe := &plan.Entities[i]
		e, ok := byName[pe.Entity]
		if !ok || !er.deletes(e) || len(pe.Keys) == 0 {
			continue
		}
		t, err := targetOf(cat, e)
		if err != nil {
			return err
		}
		_, blocked, err := deletion(spec, cat, t)
		if err != nil {
			return err
		}
		deleted[t.Name] = done{target: t, keys: pe.Keys}
		if len(blocked) == 0 {
			continue
		}
		before := map[string]done{}
		for k, v := range deleted {
			before[k] = v
		}
		checks = append(checks, engine.BlockCheck{Target: t, Entity: e.Name, Keys: pe.Keys, Blocked: blocked,
			Deleted: func(table string) (*engine.Target, []string) { return before[table].target, before[table].keys }})
	}
	problems, err := engine.CheckBlocked(ctx, q, cat, checks)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return &DeleteBlockedError{Problems: problems}
	}
	return nil
}
