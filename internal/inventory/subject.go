package inventory

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// EntityRows are one entity's rows that belong to a subject, by primary key
// (as text).
type EntityRows struct {
	Entity *privacyv1alpha1.Entity
	Table  *tenantdb.Table
	// Keys are the rows that belong to the subject alone.
	Keys []string
	// Shared are rows the subject references but other subjects reference
	// too (a shared address): exported, never erased.
	Shared []string
}

// SubjectRows are every row of one subject in one database.
type SubjectRows struct {
	// RootKeys are the keys of the rows found by the identifiers.
	RootKeys []string
	// Entities with rows of the subject, in delete order: rows that hold a
	// foreign key before the rows they point to.
	Entities []EntityRows
}

// Total counts the rows found, shared ones included.
func (s *SubjectRows) Total() int64 {
	var n int64
	for _, e := range s.Entities {
		n += int64(len(e.Keys) + len(e.Shared))
	}
	return n
}

// Find finds a subject's rows: the root rows of the subject type whose
// identifier columns equal every identifier given that the root maps, then,
// through the inventory's relations in both directions, every related row.
// It refuses what it cannot plan (a composite key, an unknown subject type)
// with a message that names the entity.
func Find(ctx context.Context, q tenantdb.BatchQuerier, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog,
	subjectType string, identifiers map[string]string) (*SubjectRows, error) {
	graph, problems := CheckGraph(spec)
	if len(problems) > 0 {
		return nil, fmt.Errorf("the inventory is inconsistent: %s", strings.Join(problems, "; "))
	}
	if !declaresSubject(spec, subjectType) {
		return nil, &UnknownSubjectError{Type: subjectType}
	}
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		byName[spec.Entities[i].Name] = &spec.Entities[i]
	}
	tableOf := func(e *privacyv1alpha1.Entity) (*tenantdb.Table, error) {
		t, ok := cat.Tables[e.Table]
		if !ok {
			return nil, fmt.Errorf("entity %s: table %s does not exist", e.Name, e.Table)
		}
		if len(e.PrimaryKey) != 1 {
			return nil, fmt.Errorf("entity %s: a composite primary key cannot be planned yet; give the table a single-column key", e.Name)
		}
		return t, nil
	}

	// Entities are resolved level by level: an entity's relations point to
	// lower levels only (the graph is acyclic), so every lookup of one level
	// goes to the database in one round trip.
	keys := map[string][]string{}
	shared := map[string][]string{}
	res := &SubjectRows{}
	for _, level := range levels(spec) {
		var lookups []*lookup
		for _, name := range level {
			e := byName[name]
			if e.Subject != nil && e.Subject.Type == subjectType {
				t, err := tableOf(e)
				if err != nil {
					return nil, err
				}
				l, err := rootLookup(e, t, identifiers)
				if err != nil {
					return nil, err
				}
				if l != nil {
					lookups = append(lookups, l)
				}
			}
			for _, r := range e.Relations {
				parentKeys := keys[r.Entity]
				if len(parentKeys) == 0 {
					continue
				}
				parent := byName[r.Entity]
				t, err := tableOf(e)
				if err != nil {
					return nil, err
				}
				pt, err := tableOf(parent)
				if err != nil {
					return nil, err
				}
				l, err := relatedLookup(e, t, parent, pt, r, parentKeys)
				if err != nil {
					return nil, err
				}
				lookups = append(lookups, l)
			}
		}
		if err := runLookups(ctx, q, lookups); err != nil {
			return nil, err
		}
		found := map[string][]string{}
		for _, l := range lookups {
			found[l.entity] = append(found[l.entity], l.own...)
			shared[l.entity] = union(shared[l.entity], l.shared)
			if l.root {
				res.RootKeys = append(res.RootKeys, l.own...)
			}
		}
		for _, name := range level {
			keys[name] = union(nil, found[name])
			shared[name] = minus(shared[name], keys[name])
		}
	}
	for _, name := range graph.DeleteOrder(spec, cat) {
		if len(keys[name]) == 0 && len(shared[name]) == 0 {
			continue
		}
		e := byName[name]
		res.Entities = append(res.Entities, EntityRows{Entity: e, Table: cat.Tables[e.Table], Keys: keys[name], Shared: shared[name]})
	}
	sort.Strings(res.RootKeys)
	return res, nil
}

// UnknownSubjectError says the inventory declares no such subject type.
type UnknownSubjectError struct{ Type string }

func (e *UnknownSubjectError) Error() string {
	return fmt.Sprintf("the inventory declares no subject type %q", e.Type)
}

func declaresSubject(spec *privacyv1alpha1.DataInventorySpec, t string) bool {
	for _, s := range spec.Subjects {
		if s.Name == t {
			return true
		}
	}
	return false
}

// levels groups entities so that every relation's entity is on a lower
// level than the entity that names it (the graph is acyclic: CheckGraph).
func levels(spec *privacyv1alpha1.DataInventorySpec) [][]string {
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		byName[spec.Entities[i].Name] = &spec.Entities[i]
	}
	level := map[string]int{}
	var depth func(name string) int
	depth = func(name string) int {
		if d, ok := level[name]; ok {
			return d
		}
		d := 0
		for _, r := range byName[name].Relations {
			if _, ok := byName[r.Entity]; ok {
				d = max(d, depth(r.Entity)+1)
			}
		}
		level[name] = d
		return d
	}
	var out [][]string
	for _, e := range spec.Entities {
		d := depth(e.Name)
		for len(out) <= d {
			out = append(out, nil)
		}
		out[d] = append(out[d], e.Name)
	}
	return out
}

// lookup is one query that finds rows of an entity; own and shared hold
// its result.
type lookup struct {
	entity string
	root   bool
	sql    string
	args   []any
	// withShared: the query returns a second column saying whether the row
	// is shared with other subjects.
	withShared  bool
	own, shared []string
}

// runLookups sends lookups in one round trip and reads their results.
func runLookups(ctx context.Context, q tenantdb.BatchQuerier, lookups []*lookup) error {
	if len(lookups) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, l := range lookups {
		b.Queue(l.sql, l.args...)
	}
	br := q.SendBatch(ctx, b)
	defer func() { _ = br.Close() }()
	for _, l := range lookups {
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("entity %s: %w", l.entity, err)
		}
		for rows.Next() {
			var k string
			isShared := false
			dest := []any{&k}
			if l.withShared {
				dest = append(dest, &isShared)
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return fmt.Errorf("entity %s: %w", l.entity, err)
			}
			if isShared {
				l.shared = append(l.shared, k)
			} else {
				l.own = append(l.own, k)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("entity %s: %w", l.entity, err)
		}
	}
	return br.Close()
}

// ref is a typed column reference safe to put into SQL.
func ref(t *tenantdb.Table, col string) (ident, typ string, err error) {
	c, ok := t.Column(col)
	if !ok {
		return "", "", fmt.Errorf("column %s.%s.%s does not exist", t.Schema, t.Name, col)
	}
	// The type name comes from the catalog (format_type), never from a spec.
	return pgx.Identifier{c.Name}.Sanitize(), c.Type, nil
}

func tableIdent(t *tenantdb.Table) string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

// rootLookup finds the root rows whose identifier columns equal every given
// identifier this root maps; nil when it maps none of them.
func rootLookup(e *privacyv1alpha1.Entity, t *tenantdb.Table, identifiers map[string]string) (*lookup, error) {
	pk, _, err := ref(t, e.PrimaryKey[0])
	if err != nil {
		return nil, err
	}
	var conds []string
	var args []any
	for _, id := range e.Subject.Identifiers {
		v, ok := identifiers[id.Name]
		if !ok {
			continue
		}
		col, typ, err := ref(t, id.Column)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
		conds = append(conds, fmt.Sprintf("%s = CAST($%d::text AS %s)", col, len(args), typ))
	}
	if len(conds) == 0 {
		return nil, nil
	}
	sql := fmt.Sprintf("SELECT %s::text FROM %s WHERE %s", pk, tableIdent(t), strings.Join(conds, " AND ")) // #nosec G201 -- identifiers sanitized, values are parameters
	return &lookup{entity: e.Name, root: true, sql: sql, args: args}, nil
}

// relatedLookup finds the rows of e tied to parent rows with parentKeys
// through relation r.
func relatedLookup(e *privacyv1alpha1.Entity, t *tenantdb.Table,
	parent *privacyv1alpha1.Entity, pt *tenantdb.Table, r privacyv1alpha1.EntityRelation, parentKeys []string) (*lookup, error) {
	if len(r.Columns) != 1 {
		return nil, fmt.Errorf("entity %s: a relation over %d columns cannot be planned yet", e.Name, len(r.Columns))
	}
	pk, _, err := ref(t, e.PrimaryKey[0])
	if err != nil {
		return nil, err
	}
	ppk, ppkType, err := ref(pt, parent.PrimaryKey[0])
	if err != nil {
		return nil, err
	}
	keyArg := fmt.Sprintf("CAST($1::text[] AS %s[])", ppkType)
	switch r.Direction {
	case privacyv1alpha1.RelationChild:
		// e.columns -> parent.references (default: parent's key).
		fk, _, err := ref(t, r.Columns[0])
		if err != nil {
			return nil, err
		}
		refCol := parent.PrimaryKey[0]
		if len(r.References) == 1 {
			refCol = r.References[0]
		}
		pref, _, err := ref(pt, refCol)
		if err != nil {
			return nil, err
		}
		sql := fmt.Sprintf("SELECT c.%s::text FROM %s c WHERE c.%s IN (SELECT p.%s FROM %s p WHERE p.%s = ANY(%s))",
			pk, tableIdent(t), fk, pref, tableIdent(pt), ppk, keyArg) // #nosec G201 -- identifiers sanitized, values are parameters
		return &lookup{entity: e.Name, sql: sql, args: []any{parentKeys}}, nil
	case privacyv1alpha1.RelationReferenced:
		// parent.columns -> e.references (default: e's key).
		pfk, _, err := ref(pt, r.Columns[0])
		if err != nil {
			return nil, err
		}
		refCol := e.PrimaryKey[0]
		if len(r.References) == 1 {
			refCol = r.References[0]
		}
		eref, _, err := ref(t, refCol)
		if err != nil {
			return nil, err
		}
		exclusive := r.Exclusive != nil && *r.Exclusive
		sql := fmt.Sprintf(`SELECT c.%[1]s::text,
			%[7]t = false AND EXISTS (SELECT 1 FROM %[4]s o WHERE o.%[5]s = c.%[3]s AND NOT (o.%[6]s = ANY(%[8]s)))
			FROM %[2]s c WHERE c.%[3]s IN (SELECT p.%[5]s FROM %[4]s p WHERE p.%[6]s = ANY(%[8]s))`,
			pk, tableIdent(t), eref, tableIdent(pt), pfk, ppk, exclusive, keyArg) // #nosec G201 -- identifiers sanitized, values are parameters
		return &lookup{entity: e.Name, sql: sql, args: []any{parentKeys}, withShared: true}, nil
	}
	return nil, fmt.Errorf("entity %s: unknown relation direction %q", e.Name, r.Direction)
}

// union merges b into a, sorted and without duplicates.
func union(a, b []string) []string {
	set := map[string]bool{}
	for _, s := range a {
		set[s] = true
	}
	for _, s := range b {
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// minus removes b's elements from a.
func minus(a, b []string) []string {
	drop := map[string]bool{}
	for _, s := range b {
		drop[s] = true
	}
	var out []string
	for _, s := range a {
		if !drop[s] {
			out = append(out, s)
		}
	}
	return out
}
