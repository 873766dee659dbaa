package retention

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/masking"
)

// Env is what a rule's step needs of the run it belongs to.
type Env struct {
	// PolicyUID keys what outlives a run (rows archived and kept).
	PolicyUID string
	// Now is the run's scheduled time: ages are measured from it.
	Now time.Time
	// TimeZone is an IANA zone; empty means UTC. Months are calendar
	// months in it.
	TimeZone string
	// Salt keys Fake values.
	Salt []byte
}

func (e Env) tz() string {
	if e.TimeZone == "" {
		return "UTC"
	}
	return e.TimeZone
}

// ruleInterval is the rule's age as an interval; a rule without an age (a
// PseudonymizationJob's for one subject) takes rows of any age.
func ruleInterval(r *Rule) string {
	if r.Spec.Age.Column == "" {
		return "0 days"
	}
	i, _ := Interval(r.Spec.Age.OlderThan) // Compile checked it
	return i
}

// Step is the rule as a step of the executor for a run in env: its rows
// (old enough, matching the conditions, not of a restricted subject, still
// pending) and its change.
func (r *Rule) Step(env Env) *engine.Step {
	s := &engine.Step{Name: r.Spec.Name, Entity: r.Entity.Name, Target: r.target, Action: string(r.Spec.Action),
		Detail: "rule " + r.Spec.Name,
		Cutoff: &engine.Statement{SQL: "(($1::timestamptz AT TIME ZONE $2::text) - $3::interval) AT TIME ZONE $2::text",
			Args: []any{env.Now, env.tz(), ruleInterval(r)}},
		Where: func(args *masking.Args, cutoff *time.Time) (string, error) { return r.where(env, args, cutoff) },
	}
	set := func(args *masking.Args, several string) (string, error) { return r.setSQL(env, args, several) }
	switch r.Spec.Action {
	case privacyv1alpha1.RetentionAnonymize, privacyv1alpha1.RetentionPseudonymize:
		s.Set = set
	case privacyv1alpha1.RetentionDelete:
		s.Delete = r.deletion
	case privacyv1alpha1.RetentionArchive:
		cols := make([]string, len(r.target.Table.Columns))
		for i, c := range r.target.Table.Columns {
			cols[i] = c.Name
		}
		s.Archive = &engine.Archive{Name: r.Spec.Name, Columns: cols}
		if r.subject != nil {
			sub := *r.subject
			sub.Salt = env.Salt
			s.Archive.Subject = &sub
		}
		switch archiveThen(r.Spec) {
		case privacyv1alpha1.ArchiveThenDelete:
			s.Delete = r.deletion
		case privacyv1alpha1.ArchiveThenAnonymize:
			s.Set = set
		default:
			s.Marks = append(s.Marks, engine.Mark{Insert: "INSERT INTO lethe.retention_archived_rows (policy_uid, rule, key)",
				Values: []any{env.PolicyUID, r.Spec.Name}})
		}
	}
	if r.graph != nil {
		r.withGraph(env, s)
	}
	if r.pseudo != nil {
		s.Marks = append(s.Marks, engine.Mark{Insert: "INSERT INTO lethe.pseudonymized_rows (table_name, key)", Values: []any{r.target.Name}})
		s.OneRowOnConflict = true
	}
	return s
}

// withGraph makes the step of a rule of scope Subject apply, with each
// batch of its root rows, the erasure of their subjects: the other
// entities' rows (named rule/entity in the ledger) in the batch's
// transaction, each masked row recorded in lethe.erased_rows as a
// request's are, and the root rows too, so that neither an erasure nor a
// rule nor a job applies a strategy to them again.
func (r *Rule) withGraph(env Env, s *engine.Step) {
	g := r.graph.WithKeys(masking.Keys{PerRow: true, Salt: env.Salt})
	deletes := r.Spec.Action == privacyv1alpha1.RetentionDelete
	if !deletes {
		s.Marks = append(s.Marks, engine.Mark{Insert: "INSERT INTO lethe.erased_rows (table_name, key)", Values: []any{r.target.Name}})
	}
	name := func(steps []engine.Step) {
		for i := range steps {
			steps[i].Name = engine.GraphStepName(r.Spec.Name, steps[i].Entity)
			steps[i].Detail = "rule " + r.Spec.Name
		}
	}
	s.Graph = func(ctx context.Context, tx pgx.Tx, keys []string) ([]engine.Step, []engine.Step, error) {
		before, after, err := g.Steps(ctx, tx, keys, deletes)
		name(before)
		name(after)
		return before, after, err
	}
}

// where is the condition of the rule's rows: old enough, matching the
// conditions, not of a restricted subject, and still pending (not masked,
// not erased by a request when the rule masks, not pseudonymized by a job,
// not archived and kept).
func (r *Rule) where(env Env, args *masking.Args, cutoff *time.Time) (string, error) {
	row := engine.Row + "."
	key := r.target.KeyText(engine.Row)
	var conds []string
	if r.ageKind != "" {
		if cutoff == nil {
			return "", fmt.Errorf("rule %s has no cut-off", r.Spec.Name)
		}
		age := row + pgx.Identifier{r.Spec.Age.Column}.Sanitize()
		at := args.Add(*cutoff) + "::timestamptz"
		switch r.ageKind {
		case "timestamptz":
			conds = append(conds, age+" < "+at)
		case "timestamp":
			conds = append(conds, fmt.Sprintf("%s < (%s AT TIME ZONE %s::text)", age, at, args.Add(env.tz())))
		default:
			conds = append(conds, fmt.Sprintf("%s < (%s AT TIME ZONE %s::text)::date", age, at, args.Add(env.tz())))
		}
	}
	for _, c := range r.Spec.Conditions {
		col := row + pgx.Identifier{c.Column}.Sanitize()
		switch {
		case len(c.In) > 0:
			conds = append(conds, fmt.Sprintf("%s::text = ANY(%s::text[])", col, args.Add(c.In)))
		case len(c.NotIn) > 0:
			conds = append(conds, fmt.Sprintf("%s IS NOT NULL AND NOT (%s::text = ANY(%s::text[]))", col, col, args.Add(c.NotIn)))
		case c.IsNull:
			conds = append(conds, col+" IS NULL")
		default:
			conds = append(conds, col+" IS NOT NULL")
		}
	}
	conds = append(conds, fmt.Sprintf("NOT EXISTS (SELECT 1 FROM lethe.restricted_rows lethe_r WHERE lethe_r.entity = %s AND lethe_r.key = %s)",
		args.Add(r.Entity.Name), key))
	if r.masksRows() {
		conds = append(conds, fmt.Sprintf("NOT EXISTS (SELECT 1 FROM lethe.erased_rows lethe_e WHERE lethe_e.table_name = %s AND lethe_e.key = %s)",
			args.Add(r.target.Name), key))
	}
	pseudonymized := func() string {
		return fmt.Sprintf("NOT EXISTS (SELECT 1 FROM lethe.pseudonymized_rows lethe_p WHERE lethe_p.table_name = %s AND lethe_p.key = %s)",
			args.Add(r.target.Name), key)
	}
	switch {
	case r.pseudo != nil:
		if r.pseudo.Only != nil {
			conds = append(conds, fmt.Sprintf("%s%s::text = ANY(%s::text[])", row, pgx.Identifier{r.pseudo.Identifier}.Sanitize(), args.Add(r.pseudo.Only)))
		}
		conds = append(conds, pseudonymized())
	case r.masks != nil:
		p, err := masking.PendingSQL(r.Entity.Table, r.masks, r.keyNames(), r.rowKeys(env), args)
		if err != nil {
			return "", err
		}
		conds = append(conds, p)
		if r.Spec.Action == privacyv1alpha1.RetentionPseudonymize {
			// A PseudonymizationJob's keyed pseudonyms are kept: a per-row
			// one would break the person's match across systems.
			conds = append(conds, pseudonymized())
		}
	case r.Spec.Action == privacyv1alpha1.RetentionArchive:
		conds = append(conds, fmt.Sprintf("NOT EXISTS (SELECT 1 FROM lethe.retention_archived_rows lethe_a WHERE lethe_a.policy_uid = %s AND lethe_a.rule = %s AND lethe_a.key = %s)",
			args.Add(env.PolicyUID), args.Add(r.Spec.Name), key))
	}
	if len(conds) == 0 {
		return "true", nil
	}
	return strings.Join(conds, " AND "), nil
}

// masksRows says whether the rule's change masks values (anonymizes or
// pseudonymizes them, after archiving or not): a row an erasure request
// masked is done for it.
func (r *Rule) masksRows() bool {
	switch r.Spec.Action {
	case privacyv1alpha1.RetentionAnonymize, privacyv1alpha1.RetentionPseudonymize:
		return true
	case privacyv1alpha1.RetentionArchive:
		return archiveThen(r.Spec) == privacyv1alpha1.ArchiveThenAnonymize
	}
	return false
}

func (r *Rule) keyNames() []string {
	out := make([]string, len(r.target.Key))
	for i, k := range r.target.Key {
		out[i] = k.Name
	}
	return out
}

func (r *Rule) rowKeys(env Env) masking.Keys {
	k := masking.Keys{PerRow: true, Salt: env.Salt}
	if r.pseudo != nil {
		k.HashKey, k.Identifier = r.pseudo.Key, r.pseudo.Identifier
	}
	return k
}

// setSQL is the head of the UPDATE that masks the rule's rows, deactivating
// them too when the rule says so.
func (r *Rule) setSQL(env Env, args *masking.Args, several string) (string, error) {
	set, err := masking.SetSQL(r.Entity.Table, r.masks, r.keyNames(), r.rowKeys(env), args, several)
	if err != nil || r.active == "" {
		return set, err
	}
	return set + ", " + r.active + " = false", nil
}

// Count counts the rows a rule would change now, for a dry run; it
// changes nothing.
func Count(ctx context.Context, pool *pgxpool.Pool, env Env, r *Rule) (int64, error) {
	return engine.Count(ctx, pool, r.Step(env))
}

// Identifiers returns the distinct identifiers (Pseudonyms.Identifier) of
// the rows a PseudonymizationJob's rule would change now, so the job can
// record its mapping before it changes them. They are personal: the caller
// keeps them only where the mapping lives.
func Identifiers(ctx context.Context, pool *pgxpool.Pool, env Env, r *Rule) ([]string, error) {
	if r.pseudo == nil {
		return nil, fmt.Errorf("rule %s has no identifier column", r.Spec.Name)
	}
	s := r.Step(env)
	where, args, err := engine.Matching(ctx, pool, s)
	if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, fmt.Sprintf("SELECT DISTINCT %s.%s::text FROM %s AS %s WHERE %s", // #nosec G201 -- identifiers sanitized
		engine.Row, pgx.Identifier{r.pseudo.Identifier}.Sanitize(), r.target.Ident, engine.Row, where), args.Values()...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
