package inventory

import (
	"sort"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Uncovered lists the personal columns of the live schema that the
// inventory does not mention (as a personal, key, identifier, relation or
// reporting column), as sorted `schema.table.column` names (each part
// double-quoted when it is not a plain lower-case identifier). Personal
// columns are those internal/classify finds from the catalog alone: by
// their names (in English, Swedish, French, German and Spanish) and types,
// in tables that hold people's data or are reached from one through
// foreign keys; the names of lookup tables (countries, genres, shippers)
// and numeric keys (`*_id`) are not personal.
func Uncovered(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) []string {
	covered := map[string]bool{}
	mark := func(table string, cols ...string) {
		table = tenantdb.CanonicalTableName(table)
		for _, c := range cols {
			covered[table+"."+c] = true
		}
	}
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		byName[spec.Entities[i].Name] = &spec.Entities[i]
	}
	for _, e := range spec.Entities {
		mark(e.Table, e.PrimaryKey...)
		mark(e.Table, e.ReportingColumns...)
		for _, pc := range e.PersonalColumns {
			mark(e.Table, pc.Column)
		}
		if e.Subject != nil {
			for _, id := range e.Subject.Identifiers {
				mark(e.Table, id.Column)
			}
		}
		for _, r := range e.Relations {
			holder := e.Table
			if o, ok := byName[r.Entity]; ok && r.Direction == privacyv1alpha1.RelationReferenced {
				holder = o.Table
			}
			mark(holder, r.Columns...)
		}
	}
	var out []string
	for _, f := range classify.FromCatalog(cat).Findings {
		if !covered[f.Table+"."+f.Column] {
			out = append(out, f.Table+"."+tenantdb.QuoteIdent(f.Column))
		}
	}
	sort.Strings(out)
	return out
}
