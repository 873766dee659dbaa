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
func Find(ctx context.Context, q tenantdb.Querier, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog,
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

	keys := map[string][]string{}
	shared := map[string][]string{}
	res := &SubjectRows{}
	for _, name := range resolveOrder(spec) {
		e := byName[name]
		var found []string
		if e.Subject != nil && e.Subject.Type == subjectType {
			t, err := tableOf(e)
			if err != nil {
				return nil, err
			}
			root, err := findRoots(ctx, q, e, t, identifiers)
			if err != nil {
				return nil, err
			}
			res.RootKeys = append(res.RootKeys, root...)
			found = append(found, root...)
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
			rows, sharedRows, err := findRelated(ctx, q, e, t, parent, pt, r, parentKeys)
			if err != nil {
				return nil, err
			}
			found = append(found, rows...)
			shared[name] = union(shared[name], sharedRows)
		}
		keys[name] = union(nil, found)
		shared[name] = minus(shared[name], keys[name])
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

// resolveOrder lists entities so that every relation's entity comes before
// the entity that names it (the graph is acyclic: CheckGraph).
func resolveOrder(spec *privacyv1alpha1.DataInventorySpec) []string {
	after := map[string][]string{}
	var names []string
	for _, e := range spec.Entities {
		names = append(names, e.Name)
		for _, r := range e.Relations {
			after[e.Name] = append(after[e.Name], r.Entity)
		}
	}
	order, _ := topo(names, after)
	return order
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

func findRoots(ctx context.Context, q tenantdb.Querier, e *privacyv1alpha1.Entity, t *tenantdb.Table, identifiers map[string]string) ([]string, error) {
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
		return nil, nil // none of the given identifiers maps to this root
	}
	sql := fmt.Sprintf("SELECT %s::text FROM %s WHERE %s", pk, tableIdent(t), strings.Join(conds, " AND ")) // #nosec G201 -- identifiers sanitized, values are parameters
	return collect(ctx, q, sql, args...)
}

// findRelated finds the rows of e tied to parent rows with parentKeys
// through relation r.
func findRelated(ctx context.Context, q tenantdb.Querier, e *privacyv1alpha1.Entity, t *tenantdb.Table,
	parent *privacyv1alpha1.Entity, pt *tenantdb.Table, r privacyv1alpha1.EntityRelation, parentKeys []string) (own, shared []string, err error) {
	if len(r.Columns) != 1 {
		return nil, nil, fmt.Errorf("entity %s: a relation over %d columns cannot be planned yet", e.Name, len(r.Columns))
	}
	pk, _, err := ref(t, e.PrimaryKey[0])
	if err != nil {
		return nil, nil, err
	}
	ppk, ppkType, err := ref(pt, parent.PrimaryKey[0])
	if err != nil {
		return nil, nil, err
	}
	keyArg := fmt.Sprintf("CAST($1::text[] AS %s[])", ppkType)
	switch r.Direction {
	case privacyv1alpha1.RelationChild:
		// e.columns -> parent.references (default: parent's key).
		fk, _, err := ref(t, r.Columns[0])
		if err != nil {
			return nil, nil, err
		}
		refCol := parent.PrimaryKey[0]
		if len(r.References) == 1 {
			refCol = r.References[0]
		}
		pref, _, err := ref(pt, refCol)
		if err != nil {
			return nil, nil, err
		}
		sql := fmt.Sprintf("SELECT c.%s::text FROM %s c WHERE c.%s IN (SELECT p.%s FROM %s p WHERE p.%s = ANY(%s))",
			pk, tableIdent(t), fk, pref, tableIdent(pt), ppk, keyArg) // #nosec G201 -- identifiers sanitized, values are parameters
		own, err = collect(ctx, q, sql, parentKeys)
		return own, nil, err
	case privacyv1alpha1.RelationReferenced:
		// parent.columns -> e.references (default: e's key).
		pfk, _, err := ref(pt, r.Columns[0])
		if err != nil {
			return nil, nil, err
		}
		refCol := e.PrimaryKey[0]
		if len(r.References) == 1 {
			refCol = r.References[0]
		}
		eref, _, err := ref(t, refCol)
		if err != nil {
			return nil, nil, err
		}
		exclusive := r.Exclusive != nil && *r.Exclusive
		sql := fmt.Sprintf(`SELECT c.%[1]s::text,
			%[7]t = false AND EXISTS (SELECT 1 FROM %[4]s o WHERE o.%[5]s = c.%[3]s AND NOT (o.%[6]s = ANY(%[8]s)))
			FROM %[2]s c WHERE c.%[3]s IN (SELECT p.%[5]s FROM %[4]s p WHERE p.%[6]s = ANY(%[8]s))`,
			pk, tableIdent(t), eref, tableIdent(pt), pfk, ppk, exclusive, keyArg) // #nosec G201 -- identifiers sanitized, values are parameters
		rows, err := q.Query(ctx, sql, parentKeys)
		if err != nil {
			return nil, nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var isShared bool
			if err := rows.Scan(&k, &isShared); err != nil {
				return nil, nil, err
			}
			if isShared {
				shared = append(shared, k)
			} else {
				own = append(own, k)
			}
		}
		return own, shared, rows.Err()
	}
	return nil, nil, fmt.Errorf("entity %s: unknown relation direction %q", e.Name, r.Direction)
}

func collect(ctx context.Context, q tenantdb.Querier, sql string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
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
