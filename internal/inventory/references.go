package inventory

import (
	"fmt"
	"sort"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// UnmappedReference is a foreign key from a table the inventory leaves out
// into a table it maps. The referencing rows belong to the same person as
// the rows they point to: an access export misses them, and deleting the
// person's rows either acts on them (CASCADE, SET NULL, SET DEFAULT) or is
// refused while they exist (NO ACTION, RESTRICT).
type UnmappedReference struct {
	// Table is the referencing table, canonical (tenantdb.TableName.String).
	Table string
	// Columns are the foreign-key columns in Table.
	Columns []string
	// Constraint is the foreign key's name.
	Constraint string
	// OnDelete is the foreign key's ON DELETE action (tenantdb.OnDelete*).
	OnDelete string
	// Deferrable says the check can be deferred to commit.
	Deferrable bool
	// RefTable is the referenced table, canonical.
	RefTable string
	// RefColumns are the referenced columns.
	RefColumns []string
	// Entity is the inventory's entity that maps RefTable.
	Entity string
}

// Blocks says whether the foreign key refuses to delete a referenced row
// while a referencing row exists (NO ACTION or RESTRICT): a DeleteRow of
// the entity's rows fails on it until the referencing rows are gone.
func (r UnmappedReference) Blocks() bool {
	return r.OnDelete == tenantdb.OnDeleteNoAction || r.OnDelete == tenantdb.OnDeleteRestrict
}

// String names the reference for messages: `edge.support_notes(member_id)
// → member (support_notes_member_id_fkey, ON DELETE NO ACTION)`.
func (r UnmappedReference) String() string {
	return fmt.Sprintf("%s → %s (%s, ON DELETE %s)", Lookup(r.Table, r.Columns), r.Entity, tenantdb.QuoteIdent(r.Constraint), r.OnDelete)
}

// UnmappedReferences lists the foreign keys of tables outside the inventory
// into tables it maps, sorted by referencing table and constraint. The
// executor's planner refuses a Delete of an entity that a blocking one
// (Blocks) points to, and Access and Delete reports name the others.
func UnmappedReferences(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) []UnmappedReference {
	mapped := map[string]string{} // canonical table → entity
	for _, e := range spec.Entities {
		mapped[tenantdb.CanonicalTableName(e.Table)] = e.Name
	}
	var out []UnmappedReference
	for _, fk := range cat.ForeignKeys {
		entity, into := mapped[fk.RefTable]
		if _, from := mapped[fk.Table]; from || !into {
			continue
		}
		out = append(out, UnmappedReference{Table: fk.Table, Columns: fk.Columns, Constraint: fk.Name, OnDelete: fk.OnDelete,
			Deferrable: fk.Deferrable, RefTable: fk.RefTable, RefColumns: fk.RefColumns, Entity: entity})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Table != out[j].Table {
			return out[i].Table < out[j].Table
		}
		return out[i].Constraint < out[j].Constraint
	})
	return out
}

// Lookup names a lookup of a table through columns as messages and status
// print it: `schema.table(col, col)`, each name quoted where PostgreSQL
// needs it.
func Lookup(table string, cols []string) string {
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = tenantdb.QuoteIdent(c)
	}
	return table + "(" + strings.Join(quoted, ", ") + ")"
}
