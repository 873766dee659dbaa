package dsr

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// SubjectGraph is the erasure of the subjects of several root rows at
// once, as a retention rule of scope Subject applies it to each batch of
// the root rows it selects: an erasure request's planning (the rows found
// through the inventory's relations, each entity's onErasure and
// strategies, the deletes checked against what refers to them), with the
// subjects found by their root rows' keys rather than by identifiers.
type SubjectGraph struct {
	spec    *privacyv1alpha1.DataInventorySpec
	cat     *tenantdb.Catalog
	root    string
	byName  map[string]*privacyv1alpha1.Entity
	erasure Erasure
	related bool
}

// NewSubjectGraph prepares the erasure of the subjects of root rows of the
// entity root, in an inventory resolved against cat (inventory.Resolve). It
// refuses an entity that is no subject's root and an inventory whose
// relations cannot be followed.
func NewSubjectGraph(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, root string, er Erasure) (*SubjectGraph, error) {
	f, err := inventory.NewGraphFinder(spec, cat, root, nil)
	if err != nil {
		return nil, err
	}
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		byName[spec.Entities[i].Name] = &spec.Entities[i]
	}
	return &SubjectGraph{spec: spec, cat: cat, root: root, byName: byName, erasure: er, related: len(f.Entities()) > 1}, nil
}

// Related says whether the inventory ties any entity to the root: without
// one, the erasure of its subjects is the root rows' alone.
func (g *SubjectGraph) Related() bool { return g.related }

// WithKeys is the graph with its masked values keyed by keys (a retention
// run's salt, per row).
func (g *SubjectGraph) WithKeys(keys masking.Keys) *SubjectGraph {
	c := *g
	c.erasure.Keys = keys
	return &c
}

// Steps finds, inside tx, the rows of the subjects whose root rows have the
// given keys, and returns the erasure's steps for every entity but the
// root (the caller changes the root rows), in delete order, each listing
// its rows: before are the steps to run before the root rows change, after
// those to run after (rows the roots refer to, deleted once the roots are
// gone). Rows lethe.erased_rows lists (masked before, by a request or an
// earlier batch) are left out of the masked ones, so no strategy is applied
// twice, and so are rows a restriction holds. A delete a
// foreign key would refuse is a DeleteBlockedError, before anything
// changes; rootDeleted says the caller deletes the root rows.
func (g *SubjectGraph) Steps(ctx context.Context, tx pgx.Tx, keys []string, rootDeleted bool) (before, after []engine.Step, err error) {
	if len(keys) == 0 {
		return nil, nil, nil
	}
	f, err := inventory.NewGraphFinder(g.spec, g.cat, g.root, keys)
	if err != nil {
		return nil, nil, err
	}
	b := &pgx.Batch{}
	f.Queue(b)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, err
	}
	var first, then, checked engine.Plan
	rootSeen := false
	for _, e := range f.Rows().Entities {
		pe := engine.PlannedEntity{Entity: e.Entity.Name, Keys: e.Keys, Shared: e.Shared}
		switch {
		case e.Entity.Name == g.root:
			rootSeen = true
			if rootDeleted {
				checked.Entities = append(checked.Entities, pe)
			}
			continue
		case rootSeen:
			then.Entities = append(then.Entities, pe)
		default:
			first.Entities = append(first.Entities, pe)
		}
	}
	if err := g.pending(ctx, tx, &first); err != nil {
		return nil, nil, err
	}
	if err := g.pending(ctx, tx, &then); err != nil {
		return nil, nil, err
	}
	// Deletes are checked in the order they run: the root's between.
	all := append(append(append([]engine.PlannedEntity{}, first.Entities...), checked.Entities...), then.Entities...)
	if err := checkDeletes(ctx, tx, g.erasure, g.spec, g.cat, g.byName, &engine.Plan{Entities: all}); err != nil {
		return nil, nil, err
	}
	if before, err = g.erasure.steps(g.spec, g.cat, g.byName, &first); err != nil {
		return nil, nil, err
	}
	if after, err = g.erasure.steps(g.spec, g.cat, g.byName, &then); err != nil {
		return nil, nil, err
	}
	return before, after, nil
}

// pending leaves out of the plan's masked entities the rows
// lethe.erased_rows lists, and those a restriction holds (another
// subject's, shared with these: retention skips a restricted subject's
// rows), in one round trip: each entity's rows are
// locked first, in key order, and read against lethe.erased_rows by the
// next statement, whose snapshot holds what a transaction that held them
// (another policy's batch over a shared row) committed.
func (g *SubjectGraph) pending(ctx context.Context, tx pgx.Tx, plan *engine.Plan) error {
	b := &pgx.Batch{}
	for i := range plan.Entities {
		pe := &plan.Entities[i]
		e := g.byName[pe.Entity]
		if len(pe.Keys) == 0 || g.erasure.deletes(e) {
			continue
		}
		t, err := targetOf(g.cat, e)
		if err != nil {
			return err
		}
		b.Queue(fmt.Sprintf("SELECT 1 FROM %s AS r WHERE %s ORDER BY %s FOR UPDATE OF r", t.Ident, t.In("r", "$1"), t.OrderBy("r")), pe.Keys) // #nosec G201 -- identifiers sanitized
		b.Queue(`SELECT ARRAY(SELECT k FROM pg_catalog.unnest($2::text[]) AS k
			WHERE NOT EXISTS (SELECT 1 FROM lethe.erased_rows WHERE table_name = $1 AND key = k)
				AND NOT EXISTS (SELECT 1 FROM lethe.restricted_rows WHERE entity = $3 AND key = k) ORDER BY k)`, t.Name, pe.Keys, pe.Entity).
			QueryRow(func(row pgx.Row) error {
				if err := row.Scan(&pe.Keys); err != nil {
					return fmt.Errorf("entity %s: read the rows erased or restricted before: %w", pe.Entity, err)
				}
				return nil
			})
	}
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}
