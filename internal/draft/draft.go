// Package draft writes a DataInventory for a live PostgreSQL schema that
// nobody has mapped yet, for a person to review and apply.
//
// From the catalog and what internal/classify found in it, it drafts:
//
//   - a subject type for every table of people the classifier found
//     (customers, employees, contact persons), found by the columns that
//     identify one (an e-mail address, a user name, a customer or employee
//     number) and the table's key;
//   - an entity for every table the classifier reaches from a subject
//     through foreign keys, related to the tables closer to the subject as
//     the catalog links them: a table holding a foreign key to the
//     subject's rows is their Child; a table the subject's rows point to
//     (an address) is Referenced, exclusive only when the referring
//     columns are unique. A table that refers to the people of several
//     subject types (a case with its customer and its assigned employee)
//     belongs to one family: the closest, then the one with the most rows;
//   - personal columns, each with its category and the first strategy of
//     a sensible order that masking.Check accepts for the column's type,
//     NOT NULL and unique constraints and length (never Hash, which needs
//     a key Secret);
//   - reporting columns: dates, numbers, flags, statuses and codes, and the
//     foreign keys that are not relations.
//
// Lookup tables, tables with nothing personal, tables without a key and
// what does not fit the API's bounds are left out, each named in a comment
// with why. The YAML says in comments why each guess was made: the
// classifier's reasons (names, types and sampled-content ratios, never a
// value), the constraint that ruled a strategy out, whether referenced
// rows are shared. Nothing in a draft comes from a row: its only query of
// table data returns a boolean.
package draft

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Options name the draft and bound its queries.
type Options struct {
	// Name is the DataInventory's name (default "drafted").
	Name string
	// Source says in the header what the draft was made from (for example
	// "TenantDatabase shop/acme"). It must not hold a credential.
	Source string
	// StatementTimeout bounds each query (default 2s).
	StatementTimeout time.Duration
}

// DefaultName is the name of a draft when Options.Name is empty.
const DefaultName = "drafted"

// Draft is a drafted DataInventory and the comments that explain it.
type Draft struct {
	// Inventory is the DataInventory, without namespace.
	Inventory *privacyv1alpha1.DataInventory
	// PersonalColumns counts the personal columns of every entity.
	PersonalColumns int
	notes           notes
}

// notes are the comments of a draft, by where they go.
type notes struct {
	header   []string
	leftOut  []string
	subjects map[string][]string
	entities map[string]*entityNotes
}

type entityNotes struct {
	head        []string
	identifiers []string
	// relations are per relation, "" for none.
	relations []string
	// columns are per personal column.
	columns   map[string][]string
	personal  []string
	reporting []string
}

// New drafts a DataInventory of the schema cat describes, from what the
// classifier found in it (res, from classify.Classify or FromCatalog for
// the same catalog). db, when not nil, is asked whether referenced rows are
// shared (one boolean per foreign key whose columns are not unique).
func New(ctx context.Context, db classify.DB, cat *tenantdb.Catalog, res *classify.Result, opts Options) (*Draft, error) {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = 2 * time.Second
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := newPlan(cat, res)
	d := &Draft{
		Inventory: &privacyv1alpha1.DataInventory{
			TypeMeta:   metav1.TypeMeta{APIVersion: privacyv1alpha1.GroupVersion.String(), Kind: "DataInventory"},
			ObjectMeta: metav1.ObjectMeta{Name: opts.Name},
		},
		notes: notes{subjects: map[string][]string{}, entities: map[string]*entityNotes{}},
	}
	findings := map[string][]classify.Finding{}
	for _, f := range res.Findings {
		findings[f.Table] = append(findings[f.Table], f)
	}
	p.nameEntities()
	spec := &d.Inventory.Spec
	for _, name := range p.order {
		n := p.nodes[name]
		e, en := p.entity(ctx, db, n, findings[name], opts.StatementTimeout)
		if n.root {
			subject, note := p.subject(n)
			spec.Subjects = append(spec.Subjects, subject)
			d.notes.subjects[subject.Name] = note
		}
		spec.Entities = append(spec.Entities, e)
		d.notes.entities[e.Name] = en
		d.PersonalColumns += len(e.PersonalColumns)
	}
	d.notes.leftOut = p.leftOut
	d.notes.header = header(opts, res, spec, d.PersonalColumns)
	if len(spec.Subjects) == 0 {
		return nil, fmt.Errorf("no table of the schema holds people the classifier can name: nothing to draft (%d tables read)", len(cat.Tables))
	}
	return d, nil
}

// header is the comment at the top of a draft.
func header(opts Options, res *classify.Result, spec *privacyv1alpha1.DataInventorySpec, personal int) []string {
	roles := map[classify.TableRole]int{}
	sampled := 0
	for _, t := range res.Tables {
		roles[t.Role]++
		if t.Sampled > 0 {
			sampled++
		}
	}
	from := ""
	if opts.Source != "" {
		from = " from " + opts.Source
	}
	out := []string{
		fmt.Sprintf("A DataInventory drafted by Lethe%s: %d subject types, %d entities, %d personal columns.", from,
			len(spec.Subjects), len(spec.Entities), personal),
		"Review it before applying it: the comments say why each guess was made and what was left out.",
		fmt.Sprintf("Of %d tables, the classifier found %d of people, %d related to them, %d lookup tables and %d with nothing personal.",
			len(res.Tables), roles[classify.RoleSubject], roles[classify.RoleRelated], roles[classify.RoleLookup], roles[classify.RoleUnrelated]),
	}
	if sampled > 0 {
		out = append(out, fmt.Sprintf("The content of %d tables was sampled; only counts of matching values left the database.", sampled))
	} else {
		out = append(out, "Columns were judged by name and type only (no content was sampled).")
	}
	return append(out, "This file holds names of tables and columns only, never a value of a row.")
}

// nameEntities names every entity after its table, in the singular and
// lowerCamelCase; a name two tables would share gets the schema in front,
// then a number.
func (p *plan) nameEntities() {
	taken := unique{}
	base := map[string]int{}
	for _, name := range p.order {
		base[entityName(p.nodes[name].table.Name)]++
	}
	for _, name := range p.order {
		n := p.nodes[name]
		e := entityName(n.table.Name)
		if base[e] > 1 {
			e = camel(n.table.Schema+"_"+e, "table")
		}
		n.entity = taken.take(e)
	}
}

// subject is the subject type of a root and the comment that says why.
func (p *plan) subject(n *node) (privacyv1alpha1.SubjectType, []string) {
	s := privacyv1alpha1.SubjectType{Name: n.entity}
	for _, id := range p.identifiers(n) {
		s.Identifiers = append(s.Identifiers, id.Name)
	}
	return s, []string{fmt.Sprintf("the people of %s (about %d rows)", n.name, n.table.Rows)}
}

// identifiers names a root's identifier columns (see identifierName); a
// key named plainly "id" whose name another identifier took is "id".
func (p *plan) identifiers(n *node) []privacyv1alpha1.IdentifierColumn {
	cols := rootIdentifiers(n.table, n.info)
	taken := unique{}
	for _, c := range cols {
		if !strings.EqualFold(c, "id") {
			taken[identifierName(n.entity, c)] = true
		}
	}
	out := make([]privacyv1alpha1.IdentifierColumn, 0, len(cols))
	for _, c := range cols {
		name := identifierName(n.entity, c)
		if strings.EqualFold(c, "id") {
			if taken[name] {
				name = "id"
			}
			name = taken.take(name)
		}
		out = append(out, privacyv1alpha1.IdentifierColumn{Name: name, Column: c})
	}
	return out
}

// entity drafts one table's entity.
func (p *plan) entity(ctx context.Context, db classify.DB, n *node, findings []classify.Finding, timeout time.Duration) (privacyv1alpha1.Entity, *entityNotes) {
	e := privacyv1alpha1.Entity{Name: n.entity, Table: n.name, PrimaryKey: slices.Clone(n.table.Key)}
	en := &entityNotes{columns: map[string][]string{}}
	if n.table.KeySource != "" && n.table.KeySource != "primary key" {
		en.head = append(en.head, fmt.Sprintf("keyed by %s: the table has no primary key", n.table.KeySource))
	}
	if n.root {
		en.head = append(en.head, p.whySubject(n, findings)...)
		e.Subject = &privacyv1alpha1.EntitySubject{Type: n.entity}
		e.Subject.Identifiers = p.identifiers(n)
		for _, id := range e.Subject.Identifiers {
			en.identifiers = append(en.identifiers, p.whyIdentifier(n, id.Column))
		}
	} else {
		en.head = append(en.head, fmt.Sprintf("rows that belong to %s (about %d rows)", an(p.familyName(n.family)), n.table.Rows))
	}
	for _, r := range n.relations {
		rel, note := p.relation(ctx, db, n, r, timeout)
		e.Relations = append(e.Relations, rel)
		en.relations = append(en.relations, note)
	}
	p.columns(n, findings, &e, en)
	return e, en
}

// familyName names a family by its head: the root the others belong to
// (customers, whose contact persons belong to them), the one with the most
// rows of several.
func (p *plan) familyName(f int) string {
	var head *node
	for _, r := range p.families[f].roots {
		n := p.nodes[r]
		if n == nil { // beyond the bounds
			continue
		}
		switch {
		case head == nil:
			head = n
		case (len(n.relations) == 0) != (len(head.relations) == 0):
			if len(n.relations) == 0 {
				head = n
			}
		case n.table.Rows > head.table.Rows:
			head = n
		}
	}
	if head == nil {
		return "subject"
	}
	return head.entity
}

// an puts the indefinite article before a name.
func an(name string) string {
	if name != "" && strings.ContainsRune("aeiouAEIOU", rune(name[0])) {
		return "an " + name
	}
	return "a " + name
}

// whySubject says why a table's rows are taken for people.
func (p *plan) whySubject(n *node, findings []classify.Finding) []string {
	var names, ids []string
	for _, f := range findings {
		switch {
		case f.Identifier:
			ids = append(ids, f.Column)
		case f.Category == "Name":
			names = append(names, f.Column)
		}
	}
	why := "a table of people"
	switch {
	case len(names) > 0 && len(ids) > 0:
		why += fmt.Sprintf(": it holds names (%s) and identifiers (%s)", strings.Join(names, ", "), strings.Join(ids, ", "))
	case len(names) > 0:
		why += fmt.Sprintf(": it holds names (%s)", strings.Join(names, ", "))
	case len(ids) > 0:
		why += fmt.Sprintf(": it holds identifiers (%s)", strings.Join(ids, ", "))
	}
	return []string{why + "; a request names one of its rows by the identifiers below"}
}

// whyIdentifier says what makes a column an identifier of its table's rows.
func (p *plan) whyIdentifier(n *node, column string) string {
	c, _ := n.table.Column(column)
	switch {
	case slices.Equal(n.table.Key, []string{column}):
		return column + ": the table's key"
	case c.Unique:
		return column + ": unique"
	}
	return column + ": not unique, so a request by it alone may find several people"
}

// relation drafts one relation and the comment it needs, if any.
func (p *plan) relation(ctx context.Context, db classify.DB, n *node, r *edge, timeout time.Duration) (privacyv1alpha1.EntityRelation, string) {
	parent := p.nodes[r.parent]
	rel := privacyv1alpha1.EntityRelation{Entity: parent.entity, Direction: r.dir, Columns: slices.Clone(r.fk.Columns)}
	// The columns referred to are written only when they are not the
	// referred table's key, which is the default.
	referred := parent.table
	if r.dir == privacyv1alpha1.RelationReferenced {
		referred = n.table
	}
	if !slices.Equal(r.fk.RefColumns, referred.Key) {
		rel.References = slices.Clone(r.fk.RefColumns)
	}
	holder := tenantdb.CanonicalTableName(r.fk.Table) + "(" + strings.Join(r.fk.Columns, ", ") + ")"
	if n.root {
		return rel, fmt.Sprintf("its rows are also %s's: %s is NOT NULL, so each belongs to one of %s", parent.entity, holder, parent.name)
	}
	if r.dir == privacyv1alpha1.RelationChild {
		return rel, ""
	}
	exclusive := false
	var note string
	switch measureSharing(ctx, db, p.cat, r.fk, timeout) {
	case sharingUnique:
		exclusive = true
		note = fmt.Sprintf("exclusive: %s is unique, so a row here belongs to one %s", holder, parent.entity)
	case sharingSome:
		note = fmt.Sprintf("not exclusive: %s is not unique and some rows here are shared by several %s rows today; "+
			"a shared row is exported with each, never erased", holder, parent.entity)
	case sharingNone:
		note = fmt.Sprintf("not exclusive: %s is not unique (no row here is shared today); a row another %s also refers to "+
			"is exported, never erased. Set exclusive: true if a row never belongs to two", holder, parent.entity)
	default:
		note = fmt.Sprintf("not exclusive: %s is not unique (whether rows are shared was not measured); a row another %s "+
			"also refers to is exported, never erased", holder, parent.entity)
	}
	rel.Exclusive = &exclusive
	return rel, note
}
