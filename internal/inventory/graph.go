// Package inventory resolves a DataInventory against a tenant database: the
// inventory's own graph (every entity reaches a subject's root, relations form
// no cycle, rows are deleted children first), the live schema (tables,
// columns, key paths and column types that fit each masking strategy) and the
// coverage of personal-looking columns.
package inventory

import (
	"fmt"
	"sort"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Graph is the checked relation graph of an inventory.
type Graph struct {
	// DeleteOrderOfSpec lists entity names so that rows holding a declared
	// foreign key come before the rows they point to.
	DeleteOrderOfSpec []string
}

// CheckGraph checks what one inventory can check on its own, beyond its CEL
// rules: that relations form no cycle and that every entity reaches a root.
// It returns the graph, or the problems found, each naming the entities.
func CheckGraph(spec *privacyv1alpha1.DataInventorySpec) (*Graph, []string) {
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		byName[spec.Entities[i].Name] = &spec.Entities[i]
	}
	var problems []string

	// Walk relations towards the roots: a cycle, or an entity that cannot
	// reach a root, is a problem.
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	reaches := map[string]bool{}
	var walk func(name string, path []string)
	walk = func(name string, path []string) {
		switch state[name] {
		case done:
			return
		case visiting:
			start := indexOf(path, name)
			problems = append(problems, fmt.Sprintf("relations form a cycle: %s",
				strings.Join(append(append([]string{}, path[start:]...), name), " → ")))
			return
		}
		state[name] = visiting
		e := byName[name]
		reaches[name] = e.Subject != nil
		for _, r := range e.Relations {
			if _, ok := byName[r.Entity]; !ok {
				problems = append(problems, fmt.Sprintf("entity %s: relation to undeclared entity %s", name, r.Entity))
				continue
			}
			walk(r.Entity, append(path, name))
			reaches[name] = reaches[name] || reaches[r.Entity]
		}
		state[name] = done
	}
	names := make([]string, 0, len(byName))
	for _, e := range spec.Entities {
		names = append(names, e.Name)
	}
	for _, n := range names {
		walk(n, nil)
	}
	for _, n := range names {
		if !reaches[n] {
			problems = append(problems, fmt.Sprintf("entity %s does not reach a root (an entity with subject) through its relations", n))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, dedupe(problems)
	}

	// Delete order: a row that holds a foreign key goes before the row it
	// points to. before[a] lists the entities that must be deleted before a.
	before := map[string][]string{}
	for _, e := range spec.Entities {
		for _, r := range e.Relations {
			switch r.Direction {
			case privacyv1alpha1.RelationChild:
				before[r.Entity] = append(before[r.Entity], e.Name)
			case privacyv1alpha1.RelationReferenced:
				before[e.Name] = append(before[e.Name], r.Entity)
			}
		}
	}
	order, cycle := topo(names, before)
	if cycle != "" {
		return nil, []string{"relations leave no delete order: " + cycle}
	}
	return &Graph{DeleteOrderOfSpec: order}, nil
}

// topo orders names so that every entry of before[n] comes before n, keeping
// the declaration order where there is a choice.
func topo(names []string, before map[string][]string) ([]string, string) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var order []string
	var cycle string
	var visit func(n string, path []string) bool
	visit = func(n string, path []string) bool {
		switch state[n] {
		case done:
			return true
		case visiting:
			start := indexOf(path, n)
			cycle = strings.Join(append(append([]string{}, path[start:]...), n), " → ")
			return false
		}
		state[n] = visiting
		for _, b := range before[n] {
			if !visit(b, append(path, n)) {
				return false
			}
		}
		state[n] = done
		order = append(order, n)
		return true
	}
	for _, n := range names {
		if !visit(n, nil) {
			return nil, cycle
		}
	}
	return order, ""
}

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return 0
}

func dedupe(ss []string) []string {
	out := ss[:0]
	for i, s := range ss {
		if i == 0 || s != ss[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// DeleteOrder is the graph's delete order refined by the live foreign keys
// between the inventory's tables, so rows are deleted before every row they
// point to even through keys the inventory does not declare as relations
// (a work order's case). A cycle of live keys keeps the declared order.
func (g *Graph) DeleteOrder(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) []string {
	entityOf := map[string][]string{}
	for _, e := range spec.Entities {
		t := tenantdb.CanonicalTableName(e.Table)
		entityOf[t] = append(entityOf[t], e.Name)
	}
	before := map[string][]string{}
	for _, e := range spec.Entities {
		for _, r := range e.Relations {
			switch r.Direction {
			case privacyv1alpha1.RelationChild:
				before[r.Entity] = append(before[r.Entity], e.Name)
			case privacyv1alpha1.RelationReferenced:
				before[e.Name] = append(before[e.Name], r.Entity)
			}
		}
	}
	for _, fk := range cat.ForeignKeys {
		if fk.Table == fk.RefTable {
			continue
		}
		for _, target := range entityOf[fk.RefTable] {
			before[target] = append(before[target], entityOf[fk.Table]...)
		}
	}
	order, cycle := topo(g.DeleteOrderOfSpec, before)
	if cycle != "" {
		return g.DeleteOrderOfSpec
	}
	return order
}
