package inventory

import (
	"fmt"
	"sort"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// MissingIndexes lists the lookups a subject's plan makes on tables of at
// least minRows estimated rows through columns no index leads: the
// identifier columns of the subject type's roots (when none of them is
// indexed) and the key columns of every relation. Without such an index a
// lookup of 1 ms becomes a scan of the whole table. Each entry names the
// index to create.
func MissingIndexes(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, subjectType string, minRows int64) []string {
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		byName[spec.Entities[i].Name] = &spec.Entities[i]
	}
	seen := map[string]bool{}
	var out []string
	need := func(table, column string) bool {
		t, ok := cat.Tables[table]
		if !ok || t.Rows < minRows {
			return false
		}
		c, ok := t.Column(column)
		if !ok || c.Indexed || seen[table+"."+column] {
			return false
		}
		seen[table+"."+column] = true
		out = append(out, fmt.Sprintf("%s.%s (about %d rows): CREATE INDEX ON %s (%s)", table, column, t.Rows, table, column))
		return true
	}
	for i := range spec.Entities {
		e := &spec.Entities[i]
		if e.Subject != nil && e.Subject.Type == subjectType {
			indexed := false
			t := cat.Tables[e.Table]
			for _, id := range e.Subject.Identifiers {
				if t != nil {
					if c, ok := t.Column(id.Column); ok && c.Indexed {
						indexed = true
					}
				}
			}
			if !indexed && len(e.Subject.Identifiers) > 0 {
				need(e.Table, e.Subject.Identifiers[0].Column)
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
			for _, c := range r.Columns {
				need(holder.Table, c)
			}
			for _, c := range r.References {
				need(target.Table, c)
			}
		}
	}
	sort.Strings(out)
	return out
}
