package inventory

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Validate checks an inventory against a live catalog: every table (a table,
// not a view; no two entities on one table, however its name is written),
// column and key path exists, and every column's type and constraints fit
// its masking strategy (as far as the catalog tells: TrialMasking tries the
// rest). It returns the problems found, each naming the exact missing or
// wrong piece, sorted.
func Validate(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) []string {
	// What the inventory leaves to the catalog (keys, relation columns) is
	// filled in first, as every planner reads it.
	spec, problems := Resolve(spec, cat)
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		byName[spec.Entities[i].Name] = &spec.Entities[i]
	}
	owner := map[string]string{} // canonical table → entity
	for i := range spec.Entities {
		e := &spec.Entities[i]
		name, err := tenantdb.ParseTableName(e.Table)
		if err != nil {
			add("entity %s: %v", e.Name, err)
			continue
		}
		table := name.String()
		if other, ok := owner[table]; ok {
			add("entities %s and %s both map table %s: one table, one entity", other, e.Name, table)
		}
		owner[table] = e.Name
		t, ok := cat.Table(table)
		switch {
		case !ok && cat.Views[table]:
			add("entity %s: %s is a view; map the table it reads from", e.Name, table)
			continue
		case !ok:
			add("entity %s: table %s does not exist", e.Name, table)
			continue
		}
		col := func(what, name string) (tenantdb.Column, bool) {
			c, ok := t.Column(name)
			if !ok {
				add("entity %s: %s column %s does not exist", e.Name, what, columnName(table, name))
			}
			return c, ok
		}
		keyed := true
		for _, k := range e.PrimaryKey {
			_, ok := col("primary-key", k)
			keyed = keyed && ok
		}
		if keyed && len(e.PrimaryKey) > 0 {
			// Plannable: the key tells rows apart, as the executor needs.
			if _, err := engine.NewTarget(t, e.PrimaryKey); err != nil {
				add("entity %s: primaryKey [%s]: %v (the table's own key is [%s])", e.Name, strings.Join(e.PrimaryKey, ", "), err, strings.Join(t.Key, ", "))
			}
		}
		if e.Subject != nil {
			for _, id := range e.Subject.Identifiers {
				col("identifier", id.Column)
			}
			if rc := e.Subject.RestrictedColumn; rc != "" {
				if c, ok := col("restricted", rc); ok && c.Type != "boolean" {
					add("entity %s: restricted column %s is %s; it needs a boolean", e.Name, columnName(table, rc), c.Type)
				}
			}
		}
		for _, pc := range e.PersonalColumns {
			if c, ok := col("personal", pc.Column); ok {
				if why := fits(pc.Strategy, c); why != "" {
					add("entity %s: column %s (%s) cannot take strategy %s: %s", e.Name, columnName(table, c.Name), c.Type, pc.Strategy.Type, why)
				}
			}
		}
		for _, r := range e.ReportingColumns {
			col("reporting", r)
		}
		for _, r := range e.Relations {
			other, ok := byName[r.Entity]
			if !ok {
				continue // CEL and CheckGraph report it
			}
			holder, target := e, other
			if r.Direction == privacyv1alpha1.RelationReferenced {
				holder, target = other, e
			}
			refs := r.References
			if len(refs) == 0 {
				refs = target.PrimaryKey
			}
			if len(refs) != len(r.Columns) {
				add("entity %s: relation to %s has %d columns but %d referenced columns", e.Name, r.Entity, len(r.Columns), len(refs))
			}
			checkColumns(cat, holder, r.Columns, "foreign-key", e.Name, r.Entity, add)
			checkColumns(cat, target, refs, "referenced", e.Name, r.Entity, add)
		}
	}
	sort.Strings(problems)
	return dedupe(problems)
}

func checkColumns(cat *tenantdb.Catalog, owner *privacyv1alpha1.Entity, cols []string, what, entity, related string, add func(string, ...any)) {
	t, ok := cat.Table(owner.Table)
	if !ok {
		return // reported with the owner entity
	}
	for _, c := range cols {
		if _, ok := t.Column(c); !ok {
			add("entity %s: relation to %s: %s column %s does not exist", entity, related, what, columnName(t.TableName().String(), c))
		}
	}
}

// columnName names a column of a table (canonical) for messages:
// `schema.table.column`, the column quoted where PostgreSQL needs it.
func columnName(table, column string) string {
	return table + "." + tenantdb.QuoteIdent(column)
}

// fits says why a strategy cannot apply to a column, or "" when it can. The
// masking engine is the one judge: what it refuses here it refuses at run
// time.
func fits(s privacyv1alpha1.MaskingStrategy, c tenantdb.Column) string {
	return masking.Check(s, c)
}

// KeyNotes says which entities are keyed by something else than their
// table's primary key (a unique index over NOT NULL columns, for a table
// without one), for the TenantDatabase to show.
func KeyNotes(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) []string {
	resolved, _ := Resolve(spec, cat)
	var out []string
	for _, e := range resolved.Entities {
		t, ok := cat.Table(e.Table)
		if !ok || len(t.PrimaryKey) > 0 || !slices.Equal(t.Key, e.PrimaryKey) || t.KeySource == "" {
			continue
		}
		out = append(out, fmt.Sprintf("entity %s is keyed by %s (%s) of %s, which has no primary key", e.Name, t.KeySource, strings.Join(t.Key, ", "), e.Table))
	}
	sort.Strings(out)
	return out
}
