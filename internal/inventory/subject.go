package inventory

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
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
	// Roots are the keys, among Keys, of the rows the identifiers found.
	Roots []string
}

// SubjectRows are every row of one subject in one database.
type SubjectRows struct {
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
// spec must be resolved (Resolve). It refuses what it cannot plan (a table
// without a key, an unknown subject type) with a message that names the
// entity. It is one statement.
func Find(ctx context.Context, q tenantdb.BatchQuerier, spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog,
	subjectType string, identifiers map[string]string) (*SubjectRows, error) {
	f, err := NewFinder(spec, cat, subjectType, identifiers)
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	f.Queue(b)
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return f.Rows(), nil
}

// TargetOf is an entity's table as the executor addresses it, by the
// entity's key (spec resolved: primaryKey set).
func TargetOf(cat *tenantdb.Catalog, e *privacyv1alpha1.Entity) (*engine.Target, error) {
	t, ok := cat.Table(e.Table)
	if !ok {
		return nil, fmt.Errorf("entity %s: table %s does not exist", e.Name, e.Table)
	}
	tg, err := engine.NewTarget(t, e.PrimaryKey)
	if err != nil {
		return nil, fmt.Errorf("entity %s: %w", e.Name, err)
	}
	return tg, nil
}

// Finder is Find's statement, for a caller that sends it together with
// statements of its own.
type Finder struct {
	spec   *privacyv1alpha1.DataInventorySpec
	cat    *tenantdb.Catalog
	graph  *Graph
	byName map[string]*privacyv1alpha1.Entity
	query  *findQuery
	found  []string
	rows   *SubjectRows
}

// NewFinder plans Find's statement.
func NewFinder(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, subjectType string, identifiers map[string]string) (*Finder, error) {
	return NewFinderMatching(spec, cat, subjectType, ExactMatch(identifiers))
}

// RootMatch says how a root's identifier column matches the subject: for
// identifier id, mapped to column c and read as col in SQL, the condition
// that a root row is the subject's, and false when the subject has no such
// identifier. param adds a parameter and returns its placeholder.
type RootMatch func(id string, c tenantdb.Column, col string, param func(any) string) (string, bool)

// ExactMatch finds root rows whose identifier columns equal the values
// given, compared in the column's type.
func ExactMatch(identifiers map[string]string) RootMatch {
	return func(id string, c tenantdb.Column, col string, param func(any) string) (string, bool) {
		v, ok := identifiers[id]
		if !ok {
			return "", false
		}
		// The type name comes from the catalog (format_type), never from a spec.
		return fmt.Sprintf("%s = CAST(%s::text AS %s)", col, param(v), c.Type), true
	}
}

// NewFinderMatching plans Find's statement with root rows found by match.
func NewFinderMatching(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, subjectType string, match RootMatch) (*Finder, error) {
	return newFinder(spec, cat, subjectType, func(fq *findQuery, e *privacyv1alpha1.Entity, t *engine.Target) (string, error) {
		if e.Subject == nil || e.Subject.Type != subjectType {
			return "", nil
		}
		return fq.rootLookup(e, t, match)
	})
}

// NewGraphFinder plans the statement that finds the rows of the subjects
// whose root rows, of the root entity named root, have the given keys (key
// texts): the roots themselves, then every related row, as Find does from
// identifiers. Rows several of these subjects share, and no other, are
// theirs; rows another subject shares too are Shared.
func NewGraphFinder(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, root string, keys []string) (*Finder, error) {
	var subjectType string
	for _, e := range spec.Entities {
		if e.Name == root && e.Subject != nil {
			subjectType = e.Subject.Type
		}
	}
	if subjectType == "" {
		return nil, fmt.Errorf("entity %s is no subject's root", root)
	}
	return newFinder(spec, cat, subjectType, func(fq *findQuery, e *privacyv1alpha1.Entity, t *engine.Target) (string, error) {
		if e.Name != root {
			return "", nil
		}
		fq.args = append(fq.args, keys)
		return fmt.Sprintf("SELECT %s, false, true FROM %s AS r WHERE %s", t.KeyText("r"), t.Ident, t.In("r", fmt.Sprintf("$%d", len(fq.args)))), nil // #nosec G201 -- identifiers sanitized, values are parameters
	})
}

// newFinder plans the statement that finds a subject's rows, its roots
// looked up by rootLookup (empty for an entity it does not look up).
func newFinder(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, subjectType string,
	rootLookup func(fq *findQuery, e *privacyv1alpha1.Entity, t *engine.Target) (string, error)) (*Finder, error) {
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
	targetOf := func(e *privacyv1alpha1.Entity) (*engine.Target, error) { return TargetOf(cat, e) }

	// Every lookup goes to the database in one statement: each entity is a
	// common table expression over its lookups, in level order, so an
	// entity's relations read the keys of entities defined before it.
	fq := &findQuery{}
	var found []string
	for _, level := range levels(spec) {
		for _, name := range level {
			e := byName[name]
			var lookups []string
			if e.Subject != nil && e.Subject.Type == subjectType {
				t, err := targetOf(e)
				if err != nil {
					return nil, err
				}
				l, err := rootLookup(fq, e, t)
				if err != nil {
					return nil, err
				}
				if l != "" {
					lookups = append(lookups, l)
				}
			}
			for _, r := range e.Relations {
				parentCTE, ok := fq.ctes[r.Entity]
				if !ok {
					continue
				}
				t, err := targetOf(e)
				if err != nil {
					return nil, err
				}
				pt, err := targetOf(byName[r.Entity])
				if err != nil {
					return nil, err
				}
				l, err := relatedLookup(e, t, pt, r, parentCTE)
				if err != nil {
					return nil, err
				}
				lookups = append(lookups, l)
			}
			if len(lookups) > 0 {
				fq.add(name, lookups)
				found = append(found, name)
			}
		}
	}
	return &Finder{spec: spec, cat: cat, graph: graph, byName: byName, query: fq, found: found,
		rows: &SubjectRows{}}, nil
}

// Queue queues the statement onto b; Rows holds its result once b's
// results are read.
func (f *Finder) Queue(b *pgx.Batch) {
	keys := map[string][]string{}
	shared := map[string][]string{}
	roots := map[string][]string{}
	if len(f.found) > 0 {
		b.Queue(f.query.sql(f.found), f.query.args...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var i int
				var k string
				var isShared, isRoot bool
				if err := rows.Scan(&i, &k, &isShared, &isRoot); err != nil {
					return fmt.Errorf("find the subject's rows: %w", err)
				}
				name := f.found[i]
				if isShared {
					shared[name] = append(shared[name], k)
				} else {
					keys[name] = append(keys[name], k)
				}
				if isRoot {
					roots[name] = append(roots[name], k)
				}
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("find the subject's rows: %w", err)
			}
			f.collect(keys, shared, roots)
			return nil
		})
		return
	}
	f.collect(keys, shared, roots)
}

// collect orders the rows found for Rows.
func (f *Finder) collect(keys, shared, roots map[string][]string) {
	res := f.rows
	for _, name := range f.graph.DeleteOrder(f.spec, f.cat) {
		if len(keys[name]) == 0 && len(shared[name]) == 0 {
			continue
		}
		e := f.byName[name]
		sort.Strings(keys[name])
		sort.Strings(shared[name])
		sort.Strings(roots[name])
		t, _ := f.cat.Table(e.Table)
		res.Entities = append(res.Entities, EntityRows{Entity: e, Table: t, Keys: keys[name], Shared: shared[name], Roots: roots[name]})
	}
}

// Entities names the entities the statement looks rows up in.
func (f *Finder) Entities() []string { return f.found }

// Rows are the subject's rows, once the statement's results are read.
func (f *Finder) Rows() *SubjectRows { return f.rows }

// findQuery builds the statement that finds a subject's rows: one common
// table expression per entity with the columns k (the key as text), s
// (shared with other subjects) and r (found by the identifiers), a key
// appearing once per entity: own if any lookup finds it as the subject's
// own, root if any root lookup finds it.
type findQuery struct {
	ctes map[string]string
	defs []string
	args []any
}

func (f *findQuery) add(entity string, lookups []string) {
	if f.ctes == nil {
		f.ctes = map[string]string{}
	}
	name := fmt.Sprintf("e%d", len(f.defs))
	f.ctes[entity] = name
	f.defs = append(f.defs, fmt.Sprintf("%s AS (SELECT k, bool_and(s) AS s, bool_or(r) AS r FROM (%s) AS l (k, s, r) GROUP BY k)",
		name, strings.Join(lookups, " UNION ALL ")))
}

// sql selects every entity's keys, the entity named by its position in
// entities (the order entities were added).
func (f *findQuery) sql(entities []string) string {
	selects := make([]string, len(entities))
	for i, name := range entities {
		selects[i] = fmt.Sprintf("SELECT %d, k, s, r FROM %s", i, f.ctes[name])
	}
	return "WITH " + strings.Join(f.defs, ",\n") + "\n" + strings.Join(selects, " UNION ALL ")
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

// columnsOf quotes the columns of t for SQL, read as alias.c, after
// checking they exist.
func columnsOf(t *engine.Target, alias string, cols []string) ([]string, error) {
	out := make([]string, len(cols))
	for i, c := range cols {
		if _, ok := t.Table.Column(c); !ok {
			return nil, fmt.Errorf("column %s.%s does not exist", t.Name, c)
		}
		out[i] = alias + "." + pgx.Identifier{c}.Sanitize()
	}
	return out, nil
}

// rowValue is one column as it is, several as a row value.
func rowValue(cols []string) string {
	if len(cols) == 1 {
		return cols[0]
	}
	return "(" + strings.Join(cols, ", ") + ")"
}

// rootLookup finds the root rows whose identifier columns match every
// identifier of the subject this root maps; empty when it maps none of them.
func (f *findQuery) rootLookup(e *privacyv1alpha1.Entity, t *engine.Target, match RootMatch) (string, error) {
	var conds []string
	var args []any
	param := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(f.args)+len(args))
	}
	for _, id := range e.Subject.Identifiers {
		c, ok := t.Table.Column(id.Column)
		if !ok {
			if _, has := match(id.Name, tenantdb.Column{}, "", func(any) string { return "" }); !has {
				continue
			}
			return "", fmt.Errorf("column %s.%s does not exist", t.Name, id.Column)
		}
		if cond, ok := match(id.Name, c, "r."+pgx.Identifier{c.Name}.Sanitize(), param); ok {
			conds = append(conds, cond)
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	f.args = append(f.args, args...)
	return fmt.Sprintf("SELECT %s, false, true FROM %s AS r WHERE %s", t.KeyText("r"), t.Ident, strings.Join(conds, " AND ")), nil // #nosec G201 -- identifiers sanitized, values are parameters
}

// relatedLookup finds the rows of e tied through relation r (resolved:
// columns and references set) to the parent rows that are the subject's own
// in the parent's expression parentCTE.
func relatedLookup(e *privacyv1alpha1.Entity, t, pt *engine.Target, r privacyv1alpha1.EntityRelation, parentCTE string) (string, error) {
	if len(r.Columns) == 0 || len(r.Columns) != len(r.References) {
		return "", fmt.Errorf("entity %s: relation to %s has %d columns and %d referenced columns", e.Name, r.Entity, len(r.Columns), len(r.References))
	}
	parentKeys := fmt.Sprintf("ARRAY(SELECT k FROM %s WHERE NOT s)", parentCTE)
	switch r.Direction {
	case privacyv1alpha1.RelationChild:
		// e.columns -> parent.references.
		fk, err := columnsOf(t, "c", r.Columns)
		if err != nil {
			return "", err
		}
		refs, err := columnsOf(pt, "p", r.References)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("SELECT %s, false, false FROM %s AS c WHERE %s IN (SELECT %s FROM %s AS p WHERE %s)",
			t.KeyText("c"), t.Ident, rowValue(fk), strings.Join(refs, ", "), pt.Ident, pt.In("p", parentKeys)), nil // #nosec G201 -- identifiers sanitized, values are parameters
	case privacyv1alpha1.RelationReferenced:
		// parent.columns -> e.references.
		pfk, err := columnsOf(pt, "p", r.Columns)
		if err != nil {
			return "", err
		}
		ofk, _ := columnsOf(pt, "o", r.Columns)
		refs, err := columnsOf(t, "c", r.References)
		if err != nil {
			return "", err
		}
		exclusive := r.Exclusive != nil && *r.Exclusive
		return fmt.Sprintf(`SELECT %[1]s,
			%[2]t = false AND EXISTS (SELECT 1 FROM %[3]s AS o WHERE %[4]s = %[5]s AND NOT %[6]s), false
			FROM %[7]s AS c WHERE %[5]s IN (SELECT %[8]s FROM %[3]s AS p WHERE %[9]s)`,
			t.KeyText("c"), exclusive, pt.Ident, rowValue(ofk), rowValue(refs), pt.In("o", parentKeys),
			t.Ident, strings.Join(pfk, ", "), pt.In("p", parentKeys)), nil // #nosec G201 -- identifiers sanitized, values are parameters
	}
	return "", fmt.Errorf("entity %s: unknown relation direction %q", e.Name, r.Direction)
}
