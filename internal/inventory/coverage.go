package inventory

import (
	"sort"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Uncovered lists the personal columns of the live schema that the
// inventory does not mention, as UncoveredFindings finds them among what
// internal/classify finds from the catalog alone, as sorted
// `schema.table.column` names (each part double-quoted when it is not a
// plain lower-case identifier).
func Uncovered(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) []string {
	var out []string
	for _, f := range UncoveredFindings(spec, classify.FromCatalog(cat).Findings) {
		out = append(out, ColumnName(f))
	}
	return out
}

// ColumnName names a finding's column as status and messages name it:
// `schema.table.column`, each part double-quoted when it is not a plain
// lower-case identifier.
func ColumnName(f classify.Finding) string {
	return f.Table + "." + tenantdb.QuoteIdent(f.Column)
}

// UncoveredFindings keeps the findings (of classify.Classify or
// FromCatalog: personal columns by their names, types and sampled
// content, in tables that hold people's data or are reached from one
// through foreign keys) whose column the inventory does not mention as a
// personal, key, identifier, relation or reporting column, sorted by
// table and column.
func UncoveredFindings(spec *privacyv1alpha1.DataInventorySpec, findings []classify.Finding) []classify.Finding {
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
	var out []classify.Finding
	for _, f := range findings {
		if !covered[f.Table+"."+f.Column] {
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return ColumnName(out[i]) < ColumnName(out[j]) })
	return out
}
