package draft

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// The bounds of the DataInventory API a draft keeps within.
const (
	maxSubjects    = 16
	maxEntities    = 48
	maxRelations   = 4
	maxIdentifiers = 8
	maxColumns     = 48
)

// cost is how far a table is from a subject's rows: foreign keys followed,
// and of those, how many have a column that may be NULL (an optional link,
// such as the employee a case is assigned to, says less about whose rows
// these are than a required one, such as the case a comment is on).
type cost struct{ nullable, hops int }

func (c cost) less(o cost) bool {
	if c.nullable != o.nullable {
		return c.nullable < o.nullable
	}
	return c.hops < o.hops
}

func (c cost) plus(e *edge) cost {
	out := cost{nullable: c.nullable, hops: c.hops + 1}
	if e.nullable {
		out.nullable++
	}
	return out
}

// edge is a foreign key the draft may follow from a table closer to a
// subject (parent) to one further away (child).
type edge struct {
	fk            tenantdb.ForeignKey
	parent, child string
	// dir is the child entity's relation: Child when the child's table
	// holds the foreign key, Referenced when the parent's does (an address
	// the customer points to).
	dir      privacyv1alpha1.RelationDirection
	nullable bool
}

// node is a table the draft may map.
type node struct {
	name  string // canonical schema.table
	table *tenantdb.Table
	info  classify.Table
	root  bool
	// family is the index of the family of subject tables whose rows this
	// table's rows belong to.
	family  int
	cost    cost
	reached bool
	pred    *edge
	// entity is the entity's name once chosen.
	entity string
	// relations are the edges the entity's relations follow, pred first;
	// for a root, foreign keys to the roots its rows belong to.
	relations []*edge
}

// family is a group of subject tables whose rows belong together: a root
// whose rows cannot exist without another root's (contact persons, each
// with a NOT NULL foreign key to its customer) joins that root's family.
type family struct {
	roots []string
	rows  int64 // the most rows of its roots
}

// plan is which tables become entities, how each is reached, and what is
// left out.
type plan struct {
	cat      *tenantdb.Catalog
	nodes    map[string]*node
	families []*family
	// order lists the mapped tables: roots first, then by cost.
	order   []string
	leftOut []string
}

// newPlan chooses the entities: every subject table of the classifier
// that can be found by an identifier becomes a root, and every table the
// classifier reaches from one through foreign keys becomes an entity of
// the family it is closest to (fewest optional links, then fewest links,
// then the family with the most rows: cases belong to customers rather
// than to the employees assigned to them).
func newPlan(cat *tenantdb.Catalog, res *classify.Result) *plan {
	p := &plan{cat: cat, nodes: map[string]*node{}}
	var lookups, unrelated, orphans, keyless, unnamable []string
	for _, info := range res.Tables {
		t, ok := cat.Tables[info.Name]
		if !ok {
			continue
		}
		switch {
		case info.Role == classify.RoleLookup:
			lookups = append(lookups, info.Name)
			continue
		case info.Role == classify.RoleUnrelated:
			unrelated = append(unrelated, info.Name)
			continue
		case info.Role == classify.RoleRelated && info.Via == nil:
			orphans = append(orphans, info.Name)
			continue
		case len(t.Key) == 0:
			keyless = append(keyless, info.Name)
			continue
		case !printable(t.Schema, t.Name) || !printable(t.Key...):
			unnamable = append(unnamable, info.Name)
			continue
		}
		p.nodes[info.Name] = &node{name: info.Name, table: t, info: info,
			root: info.Role == classify.RoleSubject && len(rootIdentifiers(t, info)) > 0}
	}
	p.leave(lookups, "lookup tables, shared by many rows of the tables that refer to them (countries, categories, products): not personal")
	p.leave(unrelated, "tables with nothing personal by name, type or content and no foreign key to a table that has")
	p.leave(orphans, "tables that look personal but no foreign key ties to a subject's rows: map each by hand, with a relation "+
		"on the columns that name its person, or keep it out and let a RetentionPolicy age its rows")
	p.leave(keyless, "tables with no primary key and no unique index over NOT NULL columns, which a request cannot address row by row: add a key to map them")
	p.leave(unnamable, "tables whose name or key columns hold control characters, which the API refuses: rename them to map them")

	p.groupFamilies()
	p.reach()
	p.chooseRelations()
	p.bound()
	return p
}

// rootIdentifiers are the columns a subject table's rows can be found by:
// the classifier's identifiers (unique ones first), then the table's key
// when it is one column.
func rootIdentifiers(t *tenantdb.Table, info classify.Table) []string {
	ids := slices.Clone(info.Identifiers)
	if len(t.Key) == 1 && !slices.Contains(ids, t.Key[0]) {
		ids = append(ids, t.Key[0])
	}
	if len(ids) > maxIdentifiers {
		ids = ids[:maxIdentifiers]
	}
	return ids
}

// leave notes tables left out, under a reason.
func (p *plan) leave(tables []string, why string) {
	if len(tables) == 0 {
		return
	}
	slices.Sort(tables)
	p.leftOut = append(p.leftOut, fmt.Sprintf("%s: %s", why, listNames(tables, 40)))
}

// groupFamilies joins roots linked by a foreign key whose columns are all
// NOT NULL, and gives such a root a relation to the root it depends on
// (unless that closes a cycle).
func (p *plan) groupFamilies() {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if parent[x] == "" || parent[x] == x {
			return x
		}
		r := find(parent[x])
		parent[x] = r
		return r
	}
	for _, fk := range p.cat.ForeignKeys {
		a, b := p.nodes[fk.Table], p.nodes[fk.RefTable]
		if a == nil || b == nil || !a.root || !b.root || a == b || !p.notNull(fk.Table, fk.Columns) ||
			len(a.relations) >= maxRelations || p.rootReaches(b, a.name) {
			continue
		}
		a.relations = append(a.relations, &edge{fk: fk, parent: b.name, child: a.name, dir: privacyv1alpha1.RelationChild})
		parent[find(a.name)] = find(b.name)
	}
	index := map[string]int{}
	for _, name := range p.sortedNames() {
		n := p.nodes[name]
		if !n.root {
			continue
		}
		r := find(name)
		i, ok := index[r]
		if !ok {
			i = len(p.families)
			index[r] = i
			p.families = append(p.families, &family{})
		}
		f := p.families[i]
		f.roots = append(f.roots, name)
		f.rows = max(f.rows, n.table.Rows)
		n.family, n.reached = i, true
	}
}

// rootReaches says whether root n's relations lead to table target.
func (p *plan) rootReaches(n *node, target string) bool {
	if n.name == target {
		return true
	}
	for _, e := range n.relations {
		if p.rootReaches(p.nodes[e.parent], target) {
			return true
		}
	}
	return false
}

func (p *plan) notNull(table string, cols []string) bool {
	t := p.cat.Tables[table]
	for _, c := range cols {
		if col, ok := t.Column(c); !ok || !col.NotNull {
			return false
		}
	}
	return true
}

func (p *plan) sortedNames() []string {
	names := make([]string, 0, len(p.nodes))
	for name := range p.nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// edges lists the foreign keys the draft may follow from a table: to the
// tables that refer to it (their rows belong to its rows), and to a table
// it refers to that the classifier reached that way (an address, a
// contact record: a table that holds contact data, is not named for
// things and is not a lookup).
func (p *plan) edges(from string) []*edge {
	var out []*edge
	for _, fk := range p.cat.ForeignKeys {
		if fk.Table == fk.RefTable || !printable(fk.Columns...) || !printable(fk.RefColumns...) {
			continue
		}
		switch from {
		case fk.RefTable:
			if c := p.nodes[fk.Table]; c != nil && !c.root {
				out = append(out, &edge{fk: fk, parent: from, child: fk.Table, dir: privacyv1alpha1.RelationChild,
					nullable: !p.notNull(fk.Table, fk.Columns)})
			}
		case fk.Table:
			if c := p.nodes[fk.RefTable]; c != nil && !c.root && c.info.Via != nil && c.info.Via.RefTable == c.name {
				out = append(out, &edge{fk: fk, parent: from, child: fk.RefTable, dir: privacyv1alpha1.RelationReferenced,
					nullable: !p.notNull(fk.Table, fk.Columns)})
			}
		}
	}
	return out
}

// better says whether reaching a table at cost c in family f beats its
// current best.
func (p *plan) better(n *node, c cost, f int) bool {
	if !n.reached {
		return true
	}
	if c != n.cost {
		return c.less(n.cost)
	}
	return p.familyBefore(f, n.family)
}

// familyBefore orders families: the one with the most rows first, then
// the first found.
func (p *plan) familyBefore(a, b int) bool {
	if p.families[a].rows != p.families[b].rows {
		return p.families[a].rows > p.families[b].rows
	}
	return a < b
}

// reach finds, from the roots, each table's closest family and the
// foreign key it is reached by (Dijkstra over costs).
func (p *plan) reach() {
	settled := map[string]bool{}
	for {
		var u *node
		for _, name := range p.sortedNames() {
			n := p.nodes[name]
			if !n.reached || settled[name] {
				continue
			}
			if u == nil || n.cost.less(u.cost) || (n.cost == u.cost && p.familyBefore(n.family, u.family)) {
				u = n
			}
		}
		if u == nil {
			break
		}
		settled[u.name] = true
		for _, e := range p.edges(u.name) {
			v := p.nodes[e.child]
			if settled[v.name] {
				continue
			}
			if c := u.cost.plus(e); p.better(v, c, u.family) {
				v.cost, v.family, v.pred, v.reached = c, u.family, e, true
			}
		}
	}
	var anonymous, unreached []string
	for _, name := range p.sortedNames() {
		n := p.nodes[name]
		switch {
		case n.reached:
			continue
		case n.info.Role == classify.RoleSubject:
			anonymous = append(anonymous, name)
		default:
			unreached = append(unreached, name)
		}
		delete(p.nodes, name)
	}
	p.leave(anonymous, "tables of people with no column a request could name the person by: give each an identifier column "+
		"(an e-mail address, a user or customer number) or a one-column key")
	p.leave(unreached, "tables reached only through those")
}

// chooseRelations gives each table that is not a root its relations: the
// foreign key it was reached by, then every other foreign key between it
// and a table of the same family that is closer to the roots (so the
// relations form no cycle), one per related table, at most four.
func (p *plan) chooseRelations() {
	for _, name := range p.sortedNames() {
		n := p.nodes[name]
		if n.root {
			continue
		}
		n.relations = []*edge{n.pred}
		var extra []*edge
		for _, e := range p.inbound(name) {
			q := p.nodes[e.parent]
			if q == nil || q.family != n.family || !q.cost.less(n.cost) || e.parent == n.pred.parent {
				continue
			}
			extra = append(extra, e)
		}
		slices.SortStableFunc(extra, func(a, b *edge) int {
			ca, cb := p.nodes[a.parent].cost.plus(a), p.nodes[b.parent].cost.plus(b)
			switch {
			case ca.less(cb):
				return -1
			case cb.less(ca):
				return 1
			case a.dir != b.dir: // Child before Referenced
				return cmp.Compare(a.dir, b.dir)
			}
			return cmp.Compare(a.parent+"\x00"+a.fk.Name, b.parent+"\x00"+b.fk.Name)
		})
		for _, e := range extra {
			if len(n.relations) == maxRelations {
				break
			}
			if !slices.ContainsFunc(n.relations, func(r *edge) bool { return r.parent == e.parent }) {
				n.relations = append(n.relations, e)
			}
		}
	}
}

// inbound lists the edges that reach a table, from any table.
func (p *plan) inbound(name string) []*edge {
	var out []*edge
	for from := range p.nodes {
		for _, e := range p.edges(from) {
			if e.child == name {
				out = append(out, e)
			}
		}
	}
	return out
}

// bound keeps the draft within the API's bounds: at most 16 subject types
// (those with the most rows) and 48 entities (roots first, then the
// closest), and drops what no longer reaches a root.
func (p *plan) bound() {
	var roots, others []*node
	for _, name := range p.sortedNames() {
		if n := p.nodes[name]; n.root {
			roots = append(roots, n)
		} else {
			others = append(others, n)
		}
	}
	slices.SortStableFunc(roots, func(a, b *node) int { return cmp.Compare(b.table.Rows, a.table.Rows) })
	slices.SortStableFunc(others, func(a, b *node) int {
		switch {
		case a.cost.less(b.cost):
			return -1
		case b.cost.less(a.cost):
			return 1
		}
		return 0
	})
	var over []string
	if len(roots) > maxSubjects {
		for _, n := range roots[maxSubjects:] {
			over = append(over, n.name)
		}
		roots = roots[:maxSubjects]
	}
	kept := map[string]bool{}
	for _, n := range roots {
		kept[n.name] = true
		p.order = append(p.order, n.name)
	}
	for _, n := range others {
		// A relation to a table left out goes; a table left with none
		// cannot reach a root.
		n.relations = slices.DeleteFunc(n.relations, func(e *edge) bool { return !kept[e.parent] })
		if len(n.relations) == 0 || len(p.order) == maxEntities {
			over = append(over, n.name)
			continue
		}
		kept[n.name] = true
		p.order = append(p.order, n.name)
	}
	for _, n := range roots {
		n.relations = slices.DeleteFunc(n.relations, func(e *edge) bool { return !kept[e.parent] })
	}
	for _, name := range over {
		delete(p.nodes, name)
	}
	p.leave(over, fmt.Sprintf("tables beyond what one DataInventory holds (%d subject types, %d entities; the closest to the subjects are kept): "+
		"map them in a second DataInventory", maxSubjects, maxEntities))
}

// printable says whether names hold no control character, as the API
// requires of table and column names.
func printable(names ...string) bool {
	for _, n := range names {
		if strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return false
		}
	}
	return true
}

// listNames lists names, the first n of them and how many more.
func listNames(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
