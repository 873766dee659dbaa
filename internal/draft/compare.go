package draft

import (
	"fmt"
	"slices"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Comparison says how two DataInventories of one schema differ, table by
// table (their entity names may differ): which tables each maps, which
// personal columns, and where both map a column, whether its category and
// strategy agree.
type Comparison struct {
	// Tables both map, and those only one maps (canonical names).
	Tables, OnlyA, OnlyB []string
	// Columns both hold as personal, and those only one does
	// (schema.table.column).
	Columns, ColumnsOnlyA, ColumnsOnlyB []string
	// SameStrategy counts the columns of Columns with the same category
	// and strategy; Differ says, for the others, how.
	SameStrategy int
	Differ       []string
	// Relations lists, for tables both map, relations that differ.
	Relations []string
}

// Compare compares inventory a with inventory b.
func Compare(a, b *privacyv1alpha1.DataInventorySpec) Comparison {
	var c Comparison
	ea, eb := byTable(a), byTable(b)
	for _, t := range sortedKeys(ea) {
		if _, ok := eb[t]; ok {
			c.Tables = append(c.Tables, t)
		} else {
			c.OnlyA = append(c.OnlyA, t)
		}
	}
	for _, t := range sortedKeys(eb) {
		if _, ok := ea[t]; !ok {
			c.OnlyB = append(c.OnlyB, t)
		}
	}
	pa, pb := personal(a), personal(b)
	for _, k := range sortedKeys(pa) {
		other, ok := pb[k]
		if !ok {
			c.ColumnsOnlyA = append(c.ColumnsOnlyA, k)
			continue
		}
		c.Columns = append(c.Columns, k)
		if da, db := pa[k].describe(), other.describe(); da == db {
			c.SameStrategy++
		} else {
			c.Differ = append(c.Differ, fmt.Sprintf("%s: %s / %s", k, da, db))
		}
	}
	for _, k := range sortedKeys(pb) {
		if _, ok := pa[k]; !ok {
			c.ColumnsOnlyB = append(c.ColumnsOnlyB, k)
		}
	}
	for _, t := range c.Tables {
		ra, rb := relationsOf(ea[t], a), relationsOf(eb[t], b)
		if !slices.Equal(ra, rb) {
			c.Relations = append(c.Relations, fmt.Sprintf("%s: %s / %s", t, orNone(ra), orNone(rb)))
		}
	}
	return c
}

// Lines renders the comparison compactly, naming a and b, each column
// whose category or strategy differs on a line of its own.
func (c Comparison) Lines(a, b string) []string {
	out := c.Summary(a, b)
	if len(c.Differ) > 0 {
		out = append(out, fmt.Sprintf("category or strategy differs (%s / %s):", a, b))
		for _, d := range c.Differ {
			out = append(out, "  "+d)
		}
	}
	return out
}

// Summary is Lines without the columns whose category or strategy
// differs, counted instead.
func (c Comparison) Summary(a, b string) []string {
	out := []string{
		fmt.Sprintf("tables: %d in both, %d only in %s, %d only in %s", len(c.Tables), len(c.OnlyA), a, len(c.OnlyB), b),
	}
	if len(c.OnlyA) > 0 {
		out = append(out, fmt.Sprintf("  only in %s: %s", a, strings.Join(c.OnlyA, ", ")))
	}
	if len(c.OnlyB) > 0 {
		out = append(out, fmt.Sprintf("  only in %s: %s", b, strings.Join(c.OnlyB, ", ")))
	}
	out = append(out, fmt.Sprintf("personal columns: %d in both (%d with the same category and strategy), %d only in %s, %d only in %s",
		len(c.Columns), c.SameStrategy, len(c.ColumnsOnlyA), a, len(c.ColumnsOnlyB), b))
	if len(c.ColumnsOnlyA) > 0 {
		out = append(out, fmt.Sprintf("  only in %s: %s", a, strings.Join(c.ColumnsOnlyA, ", ")))
	}
	if len(c.ColumnsOnlyB) > 0 {
		out = append(out, fmt.Sprintf("  only in %s: %s", b, strings.Join(c.ColumnsOnlyB, ", ")))
	}
	if len(c.Differ) > 0 {
		out = append(out, fmt.Sprintf("  %d of those in both differ in category or strategy", len(c.Differ)))
	}
	if len(c.Relations) > 0 {
		out = append(out, fmt.Sprintf("relations that differ (%s / %s):", a, b))
		for _, r := range c.Relations {
			out = append(out, "  "+r)
		}
	}
	return out
}

type personalColumn struct {
	category privacyv1alpha1.DataCategory
	strategy privacyv1alpha1.MaskingStrategy
}

func (p personalColumn) describe() string {
	return string(p.category) + " " + Describe(p.strategy)
}

func byTable(spec *privacyv1alpha1.DataInventorySpec) map[string]*privacyv1alpha1.Entity {
	out := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		out[tenantdb.CanonicalTableName(spec.Entities[i].Table)] = &spec.Entities[i]
	}
	return out
}

func personal(spec *privacyv1alpha1.DataInventorySpec) map[string]personalColumn {
	out := map[string]personalColumn{}
	for _, e := range spec.Entities {
		for _, pc := range e.PersonalColumns {
			out[tenantdb.CanonicalTableName(e.Table)+"."+tenantdb.QuoteIdent(pc.Column)] = personalColumn{pc.Category, pc.Strategy}
		}
	}
	return out
}

// relationsOf renders an entity's relations by the related table, so
// inventories that name entities differently compare.
func relationsOf(e *privacyv1alpha1.Entity, spec *privacyv1alpha1.DataInventorySpec) []string {
	tables := map[string]string{}
	for _, o := range spec.Entities {
		tables[o.Name] = tenantdb.CanonicalTableName(o.Table)
	}
	var out []string
	for _, r := range e.Relations {
		s := fmt.Sprintf("%s %s(%s)", r.Direction, tables[r.Entity], strings.Join(r.Columns, ", "))
		if r.Exclusive != nil && *r.Exclusive {
			s += " exclusive"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
