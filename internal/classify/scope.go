package classify

import (
	"slices"
	"sort"

	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// lookupFanIn is how many times more rows a referring table must have than
// the table it refers to for that table to count as a lookup table.
const lookupFanIn = 5

// graph is the foreign-key graph of a catalog with what each table's
// columns hold, each table's role and the foreign key that reached it.
type graph struct {
	// children and parents are, per table, the indexes in cat.ForeignKeys
	// of the keys that refer to it and of its own keys.
	children, parents map[string][]int
	fks               []tenantdb.ForeignKey
	tables            map[string]*tenantdb.Table
	facts             map[string]tableFacts
	roles             map[string]TableRole
	via               map[string]*tenantdb.ForeignKey
}

// tableFacts are what a table's column signals add up to.
type tableFacts struct {
	strongest strength
	// selfName: a person's own name (first_name, contact_name, a bare name
	// in a table of people).
	selfName bool
	// identifiers, uniqueIdentifier: a column that identifies a person,
	// and one that is unique.
	identifiers, uniqueIdentifier bool
	// personalParent: reached from a table that refers to it (see
	// graph.reach).
	personalParent bool
}

func newGraph(cat *tenantdb.Catalog, sigs map[string][]*signal) *graph {
	g := &graph{children: map[string][]int{}, parents: map[string][]int{}, fks: cat.ForeignKeys, tables: cat.Tables,
		facts: map[string]tableFacts{}, roles: map[string]TableRole{}}
	referringRows := map[string]int64{}
	for i, fk := range cat.ForeignKeys {
		g.children[fk.RefTable] = append(g.children[fk.RefTable], i)
		g.parents[fk.Table] = append(g.parents[fk.Table], i)
		if r, ok := cat.Tables[fk.Table]; ok && fk.Table != fk.RefTable {
			referringRows[fk.RefTable] = max(referringRows[fk.RefTable], r.Rows)
		}
	}
	var roots []string
	for name, t := range cat.Tables {
		var f tableFacts
		for i, s := range sigs[name] {
			if s == nil {
				continue
			}
			f.strongest = max(f.strongest, s.str)
			f.selfName = f.selfName || s.role == selfName
			f.identifiers = f.identifiers || s.identifier
			f.uniqueIdentifier = f.uniqueIdentifier || (s.identifier && t.Columns[i].Unique)
		}
		// A lookup table: some table that refers to it has lookupFanIn
		// times its rows (PostgreSQL's estimates; never analysed is none).
		lookup := referringRows[name] >= lookupFanIn*max(t.Rows, 1)
		f.personalParent = f.strongest >= contact && !thingNoun(headNoun(t.Name)) && !lookup
		g.facts[name] = f
		if f.strongest == strong {
			roots = append(roots, name)
		}
	}
	scope, _ := g.reach(roots, nil)

	// Subject tables: a person's own name or a unique identifier, or
	// identifiers in a table that does not belong to another subject.
	var people []string
	for name := range scope {
		if f := g.facts[name]; f.selfName || f.uniqueIdentifier {
			people = append(people, name)
		}
	}
	belongs := g.descendants(people)
	subjects := slices.Clone(people)
	for name := range scope {
		if !belongs[name] && !slices.Contains(people, name) && g.facts[name].identifiers {
			subjects = append(subjects, name)
		}
	}
	for _, name := range subjects {
		g.roles[name] = RoleSubject
	}
	_, g.via = g.reach(subjects, scope)
	for name := range scope {
		if g.roles[name] == "" {
			g.roles[name] = RoleRelated
		}
	}
	for _, fk := range cat.ForeignKeys {
		if scope[fk.Table] && !scope[fk.RefTable] {
			g.roles[fk.RefTable] = RoleLookup
		}
	}
	return g
}

// role is a table's role.
func (g *graph) role(name string) TableRole {
	if r, ok := g.roles[name]; ok {
		return r
	}
	return RoleUnrelated
}

// reach walks the foreign keys from the start tables, breadth first in a
// fixed order: to every table that refers to a reached table, and to every
// table a reached table refers to that holds contact data (an address, a
// phone), is not named for things (cities, stores, companies: a gazetteer
// or a directory of organisations) and is not a lookup table. within, when
// not nil, bounds the walk. It returns the reached tables and, for each one
// not among the starts, the foreign key that reached it first.
func (g *graph) reach(starts []string, within map[string]bool) (map[string]bool, map[string]*tenantdb.ForeignKey) {
	queue := slices.Clone(starts)
	sort.Strings(queue)
	seen := map[string]bool{}
	via := map[string]*tenantdb.ForeignKey{}
	for _, s := range queue {
		seen[s] = true
	}
	visit := func(next string, fk int) {
		if seen[next] || (within != nil && !within[next]) {
			return
		}
		key := g.fks[fk]
		seen[next], via[next] = true, &key
		queue = append(queue, next)
	}
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		// Keys in the catalog's order, children and parents interleaved as
		// they come.
		keys := append(slices.Clone(g.children[t]), g.parents[t]...)
		sort.Ints(keys)
		for _, i := range keys {
			fk := g.fks[i]
			switch {
			case fk.RefTable == t:
				visit(fk.Table, i)
			case g.facts[fk.RefTable].personalParent:
				visit(fk.RefTable, i)
			}
		}
	}
	return seen, via
}

// descendants are the tables that refer to one of the given tables,
// directly or through others (the given tables are not included unless
// they refer to another one).
func (g *graph) descendants(of []string) map[string]bool {
	out := map[string]bool{}
	queue := slices.Clone(of)
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		for _, i := range g.children[t] {
			if c := g.fks[i].Table; c != t && !out[c] {
				out[c] = true
				queue = append(queue, c)
			}
		}
	}
	return out
}
