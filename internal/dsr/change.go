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
func change(ctx context.Context, pool *pgxpool.Pool, in *Input, cat *tenantdb.Catalog) (*Outcome, error) {
	// An inventory that cannot be planned fails a new run only: a run
	// begun before keeps its stored plan.
	finder, findErr := inventory.NewFinder(in.Inventory, cat, in.Run.SubjectType, in.Identifiers)
	var number int64
	queue := func(b *pgx.Batch) {
		if finder != nil {
			finder.Queue(b)
		}
		if in.Type == privacyv1alpha1.RequestErasure {
			queuePseudonymNumber(b, in.Run.SubjectDigest, &number)
		}
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
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	out := &Outcome{}
	if found != nil {
		out.RootKeys = found.RootKeys
	}
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range in.Inventory.Entities {
		byName[in.Inventory.Entities[i].Name] = &in.Inventory.Entities[i]
	}

	if state == engine.StateCompleted {
		ledger, err := engine.Ledger(ctx, pool, in.Run.UID)
		if err != nil {
			return nil, err
		}
		for _, l := range ledger {
			out.Entities = append(out.Entities, EntityOutcome{Entity: l.Entity, Changed: l.Changed})
		}
		return out, nil
	}

	var steps []engine.Step
	if in.Type == privacyv1alpha1.RequestRectification {
		steps, err = rectifySteps(in, cat, byName, plan)
	} else {
		steps, err = eraseSteps(in, cat, byName, plan, number)
	}
	if err != nil {
		return nil, err
	}
	opts := in.Engine
	opts.Complete = true
	results, err := engine.Execute(ctx, pool, &in.Run, steps, opts)
	if err != nil {
		return nil, err
	}
	changed := map[string]int64{}
	for _, r := range results {
		changed[r.Entity] += r.Changed
	}
	for _, e := range plan.Entities {
		out.Entities = append(out.Entities, EntityOutcome{Entity: e.Entity, Found: int64(len(e.Keys) + len(e.Shared)),
			Shared: int64(len(e.Shared)), Changed: changed[e.Entity]})
	}
	return out, nil
}

// eraseSteps turns the plan into steps, in the plan's delete order: Keep
// entities are skipped, DeleteRow entities and the Delete method delete,
// the rest are masked column by column.
func eraseSteps(in *Input, cat *tenantdb.Catalog, byName map[string]*privacyv1alpha1.Entity, plan *engine.Plan, number int64) ([]engine.Step, error) {
	var steps []engine.Step
	for _, pe := range plan.Entities {
		e, ok := byName[pe.Entity]
		if !ok || len(pe.Keys) == 0 || e.OnErasure == privacyv1alpha1.ErasureKeep {
			continue
		}
		t, ok := cat.Tables[e.Table]
		if !ok {
			return nil, fmt.Errorf("entity %s: table %s does not exist", e.Name, e.Table)
		}
		method := in.Method
		if m, ok := in.Overrides[e.Name]; ok {
			method = m
		}
		if method == privacyv1alpha1.ErasureDelete || e.OnErasure == privacyv1alpha1.ErasureDeleteRow {
			steps = append(steps, engine.Step{Entity: e.Name, Action: "Delete", Keys: pe.Keys, Change: deleteRows(t, e.PrimaryKey[0])})
			continue
		}
		if len(e.PersonalColumns) == 0 {
			continue
		}
		keys := masking.Keys{Subject: subjectToken(in.Salt, in.Run.SubjectDigest), Number: number, Salt: in.Salt}
		mask, err := maskRows(t, e, keys, in.HashKeys)
		if err != nil {
			return nil, err
		}
		steps = append(steps, engine.Step{Entity: e.Name, Action: "Mask", Keys: pe.Keys, Change: mask})
	}
	return steps, nil
}

func deleteRows(t *tenantdb.Table, pkCol string) func([]string) engine.Statement {
	pk, _ := t.Column(pkCol)
	sql := fmt.Sprintf("DELETE FROM %s WHERE %s = ANY(CAST($1::text[] AS %s[]))",
		pgx.Identifier{t.Schema, t.Name}.Sanitize(), pgx.Identifier{pk.Name}.Sanitize(), pk.Type) // #nosec G201 -- identifiers sanitized, type from the catalog
	return func(keys []string) engine.Statement {
		return engine.Statement{SQL: sql, Args: []any{keys}}
	}
}

// maskRows builds one set-based UPDATE that masks every personal column of
// the rows with the given keys.
func maskRows(t *tenantdb.Table, e *privacyv1alpha1.Entity, keys masking.Keys, hashKeys map[string][]byte) (func([]string) engine.Statement, error) {
	cols := make([]masking.Assignment, 0, len(e.PersonalColumns))
	for _, pc := range e.PersonalColumns {
		c, ok := t.Column(pc.Column)
		if !ok {
			return nil, fmt.Errorf("entity %s: column %s.%s does not exist", e.Name, e.Table, pc.Column)
		}
		a := masking.Assignment{Column: c, Strategy: pc.Strategy}
		if ref := pc.Strategy.KeySecretRef; ref != nil {
			a.HashKey = hashKeys[ref.Name+"/"+ref.Key]
		}
		cols = append(cols, a)
	}
	sql, args, err := masking.UpdateSQL(e.Table, cols, e.PrimaryKey, keys)
	if err != nil {
		return nil, fmt.Errorf("entity %s: %w", e.Name, err)
	}
	return func(batch []string) engine.Statement {
		return engine.Statement{SQL: sql, Args: args.With(batch)}
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
		t, ok := cat.Tables[e.Table]
		if !ok || len(keysOf[name]) == 0 {
			continue
		}
		cols := make([]string, 0, len(perEntity[name]))
		for c := range perEntity[name] {
			cols = append(cols, c)
		}
		sort.Strings(cols)
		var sets []string
		var values []any
		for _, cn := range cols {
			c, _ := t.Column(cn)
			values = append(values, perEntity[name][cn])
			sets = append(sets, fmt.Sprintf("%s = CAST($%d::text AS %s)", pgx.Identifier{c.Name}.Sanitize(), len(values), c.Type))
		}
		pk, _ := t.Column(e.PrimaryKey[0])
		sql := fmt.Sprintf("UPDATE %s SET %s WHERE %s = ANY(CAST($%d::text[] AS %s[]))",
			pgx.Identifier{t.Schema, t.Name}.Sanitize(), strings.Join(sets, ", "), pgx.Identifier{pk.Name}.Sanitize(), len(values)+1, pk.Type) // #nosec G201 -- identifiers sanitized, values are parameters
		steps = append(steps, engine.Step{Entity: name, Action: "Rectify", Keys: keysOf[name],
			Change: func(batch []string) engine.Statement {
				return engine.Statement{SQL: sql, Args: append(append([]any{}, values...), batch)}
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
