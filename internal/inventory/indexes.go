package inventory

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// MissingIndex is a lookup a subject's plan makes through columns no index
// leads: without the index a lookup of 1 ms becomes a scan of the whole
// table, once per subject.
type MissingIndex struct {
	// Table is the table looked up, canonical (tenantdb.TableName.String).
	Table string
	// Columns are the columns it is looked up by, in the inventory's order.
	Columns []string
	// Rows is PostgreSQL's estimate of the table's rows.
	Rows int64
}

// String names the lookup, `schema.table(col, col)`.
func (m MissingIndex) String() string { return Lookup(m.Table, m.Columns) }

// CreateIndex is the statement that adds the index.
func (m MissingIndex) CreateIndex() string {
	quoted := make([]string, len(m.Columns))
	for i, c := range m.Columns {
		quoted[i] = tenantdb.QuoteIdent(c)
	}
	return fmt.Sprintf("CREATE INDEX ON %s (%s)", m.Table, strings.Join(quoted, ", "))
}

// MissingIndexes lists the lookups a subject's plan makes on tables of at
// least minRows estimated rows through columns no index leads: the
// identifier columns of the subject type's roots (when none of them is
// indexed) and the key columns of every relation. Each entry names the
// columns (`schema.table.column, ...`), the table's rows and the index to
// create.
func MissingIndexes(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, subjectType string, minRows int64) []string {
	var out []string
	for _, m := range unindexed(spec, cat, func(t string) bool { return t == subjectType }, minRows) {
		cols := make([]string, len(m.Columns))
		for i, c := range m.Columns {
			cols[i] = columnName(m.Table, c)
		}
		out = append(out, fmt.Sprintf("%s (about %d rows): %s", strings.Join(cols, ", "), m.Rows, m.CreateIndex()))
	}
	return out
}

// UnindexedLookups is MissingIndexes for every subject type at once, as
// values: the identifier columns of every root (when none of a root's
// identifiers is indexed) and the key columns of every relation, on both
// sides, multi-column keys looked up as one. Sorted by table and columns.
func UnindexedLookups(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, minRows int64) []MissingIndex {
	return unindexed(spec, cat, func(string) bool { return true }, minRows)
}

func unindexed(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, subjectType func(string) bool, minRows int64) []MissingIndex {
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		byName[spec.Entities[i].Name] = &spec.Entities[i]
	}
	seen := map[string]bool{}
	var out []MissingIndex
	need := func(table string, cols []string) {
		t, ok := cat.Table(table)
		if !ok || t.Rows < minRows || len(cols) == 0 || t.IndexedOn(cols) {
			return
		}
		for _, c := range cols {
			if _, ok := t.Column(c); !ok {
				return // Validate reports it
			}
		}
		m := MissingIndex{Table: t.TableName().String(), Columns: cols, Rows: t.Rows}
		sorted := slices.Clone(cols)
		slices.Sort(sorted)
		key := m.Table + "\x00" + strings.Join(sorted, "\x00")
		if !seen[key] {
			seen[key] = true
			out = append(out, m)
		}
	}
	for i := range spec.Entities {
		e := &spec.Entities[i]
		if e.Subject != nil && subjectType(e.Subject.Type) && len(e.Subject.Identifiers) > 0 {
			indexed := false
			if t, ok := cat.Table(e.Table); ok {
				for _, id := range e.Subject.Identifiers {
					indexed = indexed || t.IndexedOn([]string{id.Column})
				}
			}
			if !indexed {
				need(e.Table, []string{e.Subject.Identifiers[0].Column})
			}
		}
		for _, r := range e.Relations {
			other, ok := byName[r.Entity]
			if !ok {
				continue
			}
			holder, target := e, other
			if r.Direction == privacyv1alpha1.RelationReferenced {
				holder, target = other, e
			}
			need(holder.Table, r.Columns)
			need(target.Table, r.References)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Table != out[j].Table {
			return out[i].Table < out[j].Table
		}
		return strings.Join(out[i].Columns, ",") < strings.Join(out[j].Columns, ",")
	})
	return out
}
