package tenantdb

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Digest identifies the catalog's schema: a SHA-256, hex, over every table
// (its columns with their types, NOT NULL, unique and indexed flags and
// CHECK or domain constraints, its keys and indexes), every foreign key and
// every view, in a fixed order. Row estimates are left out, so the digest
// changes when the schema does, not when rows come and go.
func (c *Catalog) Digest() string {
	h := sha256.New()
	names := make([]string, 0, len(c.Tables))
	for name := range c.Tables {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t := c.Tables[name]
		fmt.Fprintf(h, "table %q %t key %q %q\n", name, t.Partitioned, t.Key, t.KeySource)
		for _, col := range t.Columns {
			fmt.Fprintf(h, "  column %q %q %c %t %t %t %t\n", col.Name, col.Type, col.Category, col.NotNull, col.Unique, col.Indexed, col.Constrained)
		}
		for _, k := range t.UniqueKeys {
			fmt.Fprintf(h, "  unique %q\n", k)
		}
		for _, i := range t.Indexes {
			fmt.Fprintf(h, "  index %q\n", i)
		}
	}
	fks := make([]string, len(c.ForeignKeys))
	for i, fk := range c.ForeignKeys {
		fks[i] = fmt.Sprintf("fk %q %q %q %q %q %s %s %t", fk.Name, fk.Table, fk.Columns, fk.RefTable, fk.RefColumns, fk.OnDelete, fk.OnUpdate, fk.Deferrable)
	}
	slices.Sort(fks)
	views := make([]string, 0, len(c.Views))
	for v := range c.Views {
		views = append(views, "view "+v)
	}
	slices.Sort(views)
	fmt.Fprint(h, strings.Join(fks, "\n"), "\n", strings.Join(views, "\n"))
	return hex.EncodeToString(h.Sum(nil))
}
