package inventory

import (
	"fmt"
	"slices"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Resolve returns a copy of spec with what it leaves to the live catalog
// filled in, as every planner reads it:
//
//   - an entity without primaryKey is keyed by its table's own key: the
//     primary key, or, for a table without one, its smallest unique index
//     over NOT NULL columns;
//   - a relation without columns takes them, and its references, from the
//     live database's one foreign key between the two tables in the
//     relation's direction;
//   - a relation without references refers to the other entity's key.
//
// It returns the problems it meets, each naming the entity, its relation
// and both tables, and leaves those parts as they were.
func Resolve(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) (*privacyv1alpha1.DataInventorySpec, []string) {
	out := spec.DeepCopy()
	var problems []string
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range out.Entities {
		e := &out.Entities[i]
		byName[e.Name] = e
		if len(e.PrimaryKey) > 0 {
			continue
		}
		t, ok := cat.Table(e.Table)
		switch {
		case !ok:
			// Validate names the missing table.
		case len(t.Key) == 0:
			problems = append(problems, fmt.Sprintf("entity %s: table %s has no primary key and no unique index over NOT NULL columns: add one, or name the columns that tell its rows apart in primaryKey", e.Name, e.Table))
		default:
			e.PrimaryKey = slices.Clone(t.Key)
		}
	}
	for i := range out.Entities {
		e := &out.Entities[i]
		for j := range e.Relations {
			r := &e.Relations[j]
			other, ok := byName[r.Entity]
			if !ok {
				continue // CEL and CheckGraph report it
			}
			holder, target := e, other
			if r.Direction == privacyv1alpha1.RelationReferenced {
				holder, target = other, e
			}
			if len(r.Columns) == 0 {
				fk, problem := liveForeignKey(cat, holder.Table, target.Table)
				if problem != "" {
					problems = append(problems, fmt.Sprintf("entity %s: relation to %s: %s", e.Name, r.Entity, problem))
					continue
				}
				r.Columns, r.References = slices.Clone(fk.Columns), slices.Clone(fk.RefColumns)
			}
			if len(r.References) == 0 {
				r.References = slices.Clone(target.PrimaryKey)
			}
		}
	}
	return out, problems
}

// liveForeignKey finds the one foreign key from table holder to table
// target, or says why there is not one.
func liveForeignKey(cat *tenantdb.Catalog, holder, target string) (tenantdb.ForeignKey, string) {
	from, to := tenantdb.CanonicalTableName(holder), tenantdb.CanonicalTableName(target)
	var found []tenantdb.ForeignKey
	for _, fk := range cat.ForeignKeys {
		if fk.Table == from && fk.RefTable == to {
			found = append(found, fk)
		}
	}
	switch len(found) {
	case 1:
		return found[0], ""
	case 0:
		return tenantdb.ForeignKey{}, fmt.Sprintf("the database has no foreign key from %s to %s: name the columns that hold the reference in columns", holder, target)
	}
	names := make([]string, len(found))
	for i, fk := range found {
		names[i] = fmt.Sprintf("%s(%s)", fk.Name, strings.Join(fk.Columns, ", "))
	}
	return tenantdb.ForeignKey{}, fmt.Sprintf("the database has %d foreign keys from %s to %s (%s): name the columns of the one meant in columns",
		len(found), holder, target, strings.Join(names, ", "))
}

// Ownership says, for a delete plan, which tables are mapped (the entity
// of a table by canonical name, "" when none) and which foreign keys tie
// rows to the rows they belong to: those of a relation of direction Child,
// whose rows go with the rows they point to. spec must be resolved.
func Ownership(spec *privacyv1alpha1.DataInventorySpec) (entityOf func(table string) string, owns func(fk tenantdb.ForeignKey) bool) {
	byTable := map[string]string{}
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		e := &spec.Entities[i]
		byTable[tenantdb.CanonicalTableName(e.Table)] = e.Name
		byName[e.Name] = e
	}
	type link struct{ from, to, cols string }
	owned := map[link]bool{}
	for _, e := range spec.Entities {
		for _, r := range e.Relations {
			p, ok := byName[r.Entity]
			if !ok || r.Direction != privacyv1alpha1.RelationChild {
				continue
			}
			owned[link{tenantdb.CanonicalTableName(e.Table), tenantdb.CanonicalTableName(p.Table), strings.Join(r.Columns, "\x00")}] = true
		}
	}
	return func(table string) string { return byTable[table] },
		func(fk tenantdb.ForeignKey) bool {
			return owned[link{fk.Table, fk.RefTable, strings.Join(fk.Columns, "\x00")}]
		}
}
