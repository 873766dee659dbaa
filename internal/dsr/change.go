package dsr

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// change runs an erasure or rectification: the plan is recorded once, then
// each entity's rows are changed in batches through the engine, and the run
// is marked completed. A run completed before reports its ledger again.
//
// A new erasure reads the run's state, finds the subject's rows and takes
// the subject's pseudonym number in one round trip; its plan, its batches
// and its completion go to the database in one more (see engine.Execute).
// Before the plan is recorded, every foreign key into a table it deletes
// from is checked against the subject's rows: one that would refuse the
// delete refuses the request, and nothing changes (the next attempt plans
// again, with the inventory as it is then).
func change(ctx context.Context, pool *pgxpool.Pool, in *Input, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) (*Outcome, error) {
	// An inventory that cannot be planned fails a new run only: a run
	// begun before keeps its stored plan.
	tombstone, match, tombstoneSQL := tombstoneOf(in, spec)
	finder, findErr := inventory.NewFinderMatching(spec, cat, in.Run.SubjectType, match)
	var number int64
	queue := func(b *pgx.Batch) {
		if finder != nil {
			finder.Queue(b)
		}
		if in.Type == privacyv1alpha1.RequestErasure {
			queuePseudonymNumber(b, in.Run.SubjectDigest, &number)
		}
	}
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		byName[spec.Entities[i].Name] = &spec.Entities[i]
	}
	var found *inventory.SubjectRows
	state, plan, err := engine.BeginWith(ctx, pool, &in.Run, queue, func() (*engine.Plan, error) {
		if findErr != nil {
			return nil, findErr
		}
		found = finder.Rows()
		p := &engine.Plan{}
		for _, e := range found.Entities {
			p.Entities = append(p.Entities, engine.PlannedEntity{Entity: e.Entity.Name, Keys: e.Keys, Shared: e.Shared})
		}
		if in.Type == privacyv1alpha1.RequestErasure {
			if err := dropErased(ctx, pool, in, cat, byName, p); err != nil {
				return nil, err
			}
			if err := checkDeletes(ctx, pool, erasureOf(in, masking.Keys{}), spec, cat, byName, p); err != nil {
				return nil, err
			}
		}
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	if state == engine.StateCompleted {
		// A completed erasure has its tombstone: written again if it was
		// deleted since (a row written before is kept).
		if tombstone != nil {
			if err := tombstone.write(ctx, pool); err != nil {
				return nil, err
			}
		}
		// Reported as when it completed: what the stored plan found, and
		// what the ledger says was changed.
		ledger, err := engine.Ledger(ctx, pool, in.Run.UID)
		if err != nil {
			return nil, err
		}
		out := outcomeOf(plan, ledger)
		out.Tombstone = tombstone
		return out, nil
	}

	var archived int64
	if in.Type == privacyv1alpha1.RequestErasure {
		if archived, err = eraseArchived(ctx, pool, in, spec); err != nil {
			return nil, fmt.Errorf("erase the subject's archived rows: %w", err)
		}
	}
	var steps []engine.Step
	if in.Type == privacyv1alpha1.RequestRectification {
		steps, err = rectifySteps(in, cat, byName, plan)
	} else {
		steps, err = eraseSteps(in, spec, cat, byName, plan, number)
	}
	if err != nil {
		return nil, err
	}
	opts := in.Engine
	opts.Complete = true
	opts.OnComplete = tombstoneSQL
	if len(steps) == 0 {
		// Nothing to change (the subject is not there, or erased before):
		// the completion still records that the request looked.
		opts.EmptyAction = "Erase"
		if in.Type == privacyv1alpha1.RequestRectification {
			opts.EmptyAction = "Rectify"
		}
	}
	results, err := engine.Execute(ctx, pool, &in.Run, steps, opts)
	if err != nil {
		return nil, err
	}
	out := outcomeOf(plan, results)
	out.Tombstone = tombstone
	if archived > 0 {
		out.Archived = archived
		out.Entities = append(out.Entities, EntityOutcome{Entity: ArchivedEntity, Found: archived, Changed: archived})
		sort.Slice(out.Entities, func(i, j int) bool { return out.Entities[i].Entity < out.Entities[j].Entity })
	}
	return out, nil
}

// outcomeOf is what a change found (its plan) and changed (its steps'
// results), per entity in name order: the same whether the run just
// finished or is read back after it completed.
func outcomeOf(plan *engine.Plan, results []engine.StepResult) *Outcome {
	changed := map[string]int64{}
	effects := map[string]engine.Effects{}
	for _, r := range results {
		changed[r.Entity] += r.Changed
		effects[r.Entity] = effects[r.Entity].Add(r.Effects)
	}
	out := &Outcome{}
	for _, e := range plan.Entities {
		out.Entities = append(out.Entities, EntityOutcome{Entity: e.Entity, Found: e.Found, Shared: e.SharedFound,
			Changed: changed[e.Entity], Effects: effects[e.Entity]})
	}
	sort.Slice(out.Entities, func(i, j int) bool { return out.Entities[i].Entity < out.Entities[j].Entity })
	return out
}

// dropErased leaves out of the plan the rows an erasure would mask that an
// earlier erasure masked already (lethe.erased_rows): a request made again
// for a subject erased before applies no strategy twice to a value. Rows
// it deletes stay in the plan: a delete still removes a masked row.
func dropErased(ctx context.Context, pool *pgxpool.Pool, in *Input, cat *tenantdb.Catalog, byName map[string]*privacyv1alpha1.Entity, p *engine.Plan) error {
	var tables, keys []string
	for _, pe := range p.Entities {
		e, ok := byName[pe.Entity]
		if !ok || e.OnErasure == privacyv1alpha1.ErasureKeep || erasureOf(in, masking.Keys{}).deletes(e) {
			continue
		}
		t, err := targetOf(cat, e)
		if err != nil {
			return err
		}
		for _, k := range pe.Keys {
			tables, keys = append(tables, t.Name), append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	rows, err := pool.Query(ctx, `SELECT e.table_name, e.key FROM lethe.erased_rows e
		JOIN unnest($1::text[], $2::text[]) AS k (table_name, key) USING (table_name, key)`, tables, keys)
	if err != nil {
		return fmt.Errorf("read the rows erased before: %w", err)
	}
	erased := map[[2]string]bool{}
	var table, key string
	if _, err := pgx.ForEachRow(rows, []any{&table, &key}, func() error {
		erased[[2]string{table, key}] = true
		return nil
	}); err != nil {
		return fmt.Errorf("read the rows erased before: %w", err)
	}
	if len(erased) == 0 {
		return nil
	}
	for i := range p.Entities {
		pe := &p.Entities[i]
		e, ok := byName[pe.Entity]
		if !ok || e.OnErasure == privacyv1alpha1.ErasureKeep || erasureOf(in, masking.Keys{}).deletes(e) {
			continue
		}
		t, err := targetOf(cat, e)
		if err != nil {
			return err
		}
		kept := make([]string, 0, len(pe.Keys))
		for _, k := range pe.Keys {
			if !erased[[2]string{t.Name, k}] {
				kept = append(kept, k)
			}
		}
		pe.Keys = kept
	}
	return nil
}

// Erasure is how an erasure changes the rows of its plan.
type Erasure struct {
	// Method and Overrides, as a request's.
	Method    privacyv1alpha1.ErasureMethod
	Overrides map[string]privacyv1alpha1.ErasureMethod
	// Keys key the masked values: a request's are the subject's, a
	// retention rule's are per row (masking.Keys.PerRow).
	Keys masking.Keys
	// HashKeys holds the keys of Hash strategies by "secret/key".
	HashKeys map[string][]byte
}

func erasureOf(in *Input, keys masking.Keys) Erasure {
	return Erasure{Method: in.Method, Overrides: in.Overrides, Keys: keys, HashKeys: in.HashKeys}
}

// deletes says whether the erasure deletes an entity's rows.
func (er Erasure) deletes(e *privacyv1alpha1.Entity) bool {
	method := er.Method
	if m, ok := er.Overrides[e.Name]; ok {
		method = m
	}
	return e.OnErasure != privacyv1alpha1.ErasureKeep && (method == privacyv1alpha1.ErasureDelete || e.OnErasure == privacyv1alpha1.ErasureDeleteRow)
}

// targetOf is an entity's table as the engine addresses it.
func targetOf(cat *tenantdb.Catalog, e *privacyv1alpha1.Entity) (*engine.Target, error) {
	return inventory.TargetOf(cat, e)
}

// deletion plans deleting an entity's rows: its children are steps of
// their own, earlier in the plan.
func deletion(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, t *engine.Target) (*engine.Deletion, []engine.Blocked, error) {
	entityOf, owns := inventory.Ownership(spec)
	return engine.PlanDeletion(cat, t, engine.Scope{Entity: entityOf, Owns: owns}, false)
}

// eraseSteps turns the plan into steps, in the plan's delete order: Keep
// entities are skipped, DeleteRow entities and the Delete method delete,
// the rest are masked column by column, and their keys recorded in
// lethe.erased_rows so that no retention rule or job masks them again.
func eraseSteps(in *Input, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, byName map[string]*privacyv1alpha1.Entity, plan *engine.Plan, number int64) ([]engine.Step, error) {
	keys := masking.Keys{Subject: subjectToken(in.Salt, in.Run.SubjectDigest), Number: number, Salt: in.Salt}
	return erasureOf(in, keys).steps(spec, cat, byName, plan)
}

// steps turns a plan into the erasure's steps (see eraseSteps).
func (er Erasure) steps(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, byName map[string]*privacyv1alpha1.Entity, plan *engine.Plan) ([]engine.Step, error) {
	var steps []engine.Step
	for _, pe := range plan.Entities {
		e, ok := byName[pe.Entity]
		if !ok || len(pe.Keys) == 0 || e.OnErasure == privacyv1alpha1.ErasureKeep {
			continue
		}
		t, err := targetOf(cat, e)
		if err != nil {
			return nil, err
		}
		if er.deletes(e) {
			d, _, err := deletion(spec, cat, t)
			if err != nil {
				return nil, fmt.Errorf("entity %s: %w", e.Name, err)
			}
			steps = append(steps, engine.Step{Entity: e.Name, Target: t, Action: "Delete", Keys: pe.Keys, Delete: d})
			continue
		}
		if len(e.PersonalColumns) == 0 {
			continue
		}
		set, err := maskSet(t, e, er.Keys, er.HashKeys)
		if err != nil {
			return nil, err
		}
		steps = append(steps, engine.Step{Entity: e.Name, Target: t, Action: "Mask", Keys: pe.Keys, Set: set,
			Marks: []engine.Mark{{Insert: "INSERT INTO lethe.erased_rows (table_name, key)", Values: []any{t.Name}}}})
	}
	return steps, nil
}

// maskSet builds the head of the UPDATE that masks every personal column of
// an entity's rows.
func maskSet(t *engine.Target, e *privacyv1alpha1.Entity, keys masking.Keys, hashKeys map[string][]byte) (func(*masking.Args, string) (string, error), error) {
	cols := make([]masking.Assignment, 0, len(e.PersonalColumns))
	for _, pc := range e.PersonalColumns {
		c, ok := t.Table.Column(pc.Column)
		if !ok {
			return nil, fmt.Errorf("entity %s: column %s.%s does not exist", e.Name, e.Table, pc.Column)
		}
		a := masking.Assignment{Column: c, Strategy: pc.Strategy}
		if ref := pc.Strategy.KeySecretRef; ref != nil {
			a.HashKey = hashKeys[ref.Name+"/"+ref.Key]
		}
		cols = append(cols, a)
	}
	pk := make([]string, len(t.Key))
	for i, k := range t.Key {
		pk[i] = k.Name
	}
	if _, err := masking.SetSQL(e.Table, cols, pk, keys, &masking.Args{}, "true"); err != nil {
		return nil, fmt.Errorf("entity %s: %w", e.Name, err)
	}
	return func(args *masking.Args, several string) (string, error) {
		return masking.SetSQL(e.Table, cols, pk, keys, args, several)
	}, nil
}

// rectifySteps writes the new values into the subject's own rows.
func rectifySteps(in *Input, cat *tenantdb.Catalog, byName map[string]*privacyv1alpha1.Entity, plan *engine.Plan) ([]engine.Step, error) {
	perEntity := map[string]map[string]string{}
	for field, value := range in.Rectify {
		entity, column, ok := strings.Cut(field, ".")
		e, known := byName[entity]
		if !ok || !known || !declaresPersonal(e, column) {
			return nil, &RectificationError{Field: field}
		}
		if perEntity[entity] == nil {
			perEntity[entity] = map[string]string{}
		}
		perEntity[entity][column] = value
	}
	keysOf := map[string][]string{}
	for _, pe := range plan.Entities {
		keysOf[pe.Entity] = pe.Keys
	}
	names := make([]string, 0, len(perEntity))
	for n := range perEntity {
		names = append(names, n)
	}
	sort.Strings(names)
	var steps []engine.Step
	for _, name := range names {
		e := byName[name]
		if len(keysOf[name]) == 0 {
			continue
		}
		t, err := targetOf(cat, e)
		if err != nil {
			return nil, err
		}
		cols := make([]string, 0, len(perEntity[name]))
		for c := range perEntity[name] {
			cols = append(cols, c)
		}
		sort.Strings(cols)
		values := perEntity[name]
		steps = append(steps, engine.Step{Entity: name, Target: t, Action: "Rectify", Keys: keysOf[name],
			Set: func(args *masking.Args, _ string) (string, error) {
				sets := make([]string, 0, len(cols))
				for _, cn := range cols {
					c, _ := t.Table.Column(cn)
					sets = append(sets, fmt.Sprintf("%s = CAST(%s::text AS %s)", pgx.Identifier{c.Name}.Sanitize(), args.Add(values[cn]), c.Type))
				}
				return fmt.Sprintf("UPDATE %s AS %s SET %s", t.Ident, engine.Row, strings.Join(sets, ", ")), nil // #nosec G201 -- identifiers sanitized, values are parameters
			}})
	}
	return steps, nil
}

// RectificationError names a field the inventory does not declare personal.
type RectificationError struct{ Field string }

func (e *RectificationError) Error() string {
	return fmt.Sprintf("rectification field %q is not a personal column declared in the inventory (use entity.column)", e.Field)
}

func declaresPersonal(e *privacyv1alpha1.Entity, column string) bool {
	for _, pc := range e.PersonalColumns {
		if pc.Column == column {
			return true
		}
	}
	return false
}

// subjectToken stands for the subject in pseudonyms: keyed with the salt, so
// the digest shown in status does not reveal it.
func subjectToken(salt []byte, digest string) string {
	h := hmac.New(sha256.New, salt)
	h.Write([]byte("pseudonym\x00" + digest))
	return hex.EncodeToString(h.Sum(nil))
}

// queuePseudonymNumber queues the transaction that reads the subject's
// pseudonym number in this database into n, assigning the next one on first
// use. It commits without waiting for its WAL
// flush: every change that uses the number commits after it, and the log is
// flushed in order, so a number lost in a crash was used nowhere.
func queuePseudonymNumber(b *pgx.Batch, digest string, n *int64) {
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit = off")
	b.Queue(`WITH ins AS (
			INSERT INTO lethe.pseudonyms (subject_digest) VALUES ($1) ON CONFLICT (subject_digest) DO NOTHING RETURNING n)
		SELECT n FROM ins UNION ALL SELECT n FROM lethe.pseudonyms WHERE subject_digest = $1 LIMIT 1`, digest).
		QueryRow(func(row pgx.Row) error { return row.Scan(n) })
	b.Queue("COMMIT")
}
