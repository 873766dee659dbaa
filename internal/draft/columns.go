package draft

import (
	"fmt"
	"slices"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// reportingWords are the words of a text column's name that say it holds
// a status or a code kept for reports rather than something of a person.
var reportingWords = map[string]bool{
	"status": true, "state": true, "type": true, "kind": true, "category": true, "code": true, "country": true,
	"currency": true, "channel": true, "priority": true, "role": true, "level": true, "tier": true, "topic": true,
	"sku": true, "language": true, "lang": true, "locale": true, "stage": true, "phase": true, "source": true,
	"action": true, "unit": true, "version": true, "plan": true, "team": true, "subject": true,
}

// reportingLike says whether a column is kept for reports by its type (a
// date, a time, a number, a flag, an enum, an interval) or, for text, by a
// word of its name.
func reportingLike(c tenantdb.Column) bool {
	switch c.Category {
	case 'D', 'N', 'B', 'E', 'T':
		return true
	case 'S':
		return slices.ContainsFunc(classify.Words(c.Name), func(w string) bool { return reportingWords[w] })
	}
	return false
}

// columns sorts a table's columns into the entity's personal and
// reporting columns, with the comments that say why; the key and the
// relations' columns are neither.
func (p *plan) columns(n *node, findings []classify.Finding, e *privacyv1alpha1.Entity, en *entityNotes) {
	t := n.table
	done := map[string]bool{}
	for _, k := range t.Key {
		done[k] = true
	}
	var unnamable []string
	for _, c := range t.Columns {
		if !printable(c.Name) {
			done[c.Name] = true
			unnamable = append(unnamable, c.Name) // comment() makes it printable
		}
	}
	if len(unnamable) > 0 {
		en.personal = append(en.personal, "not mapped, as their names hold control characters, which the API refuses: "+strings.Join(unnamable, ", "))
	}
	for _, r := range n.relations {
		if r.dir == privacyv1alpha1.RelationChild {
			for _, c := range r.fk.Columns {
				done[c] = true
			}
		}
	}
	// Columns of this table that another entity's relation follows (the
	// address_id of the customer an address is Referenced by).
	for _, m := range p.nodes {
		for _, r := range m.relations {
			if r.dir == privacyv1alpha1.RelationReferenced && r.fk.Table == n.name {
				for _, c := range r.fk.Columns {
					done[c] = true
				}
			}
		}
	}

	var reporting []string
	var refNotes, leftOutRefs []string
	for _, fk := range p.cat.ForeignKeys {
		if fk.Table != n.name || slices.ContainsFunc(n.relations, func(r *edge) bool { return r.fk.Name == fk.Name && r.fk.Table == fk.Table }) {
			continue
		}
		var cols []string
		for _, c := range fk.Columns {
			if !done[c] {
				cols = append(cols, c)
				done[c] = true
			}
		}
		if len(cols) == 0 {
			continue
		}
		reporting = append(reporting, cols...)
		if note, other := p.referenceNote(n, fk); other {
			refNotes = append(refNotes, note)
		} else {
			leftOutRefs = append(leftOutRefs, note)
		}
	}
	if len(leftOutRefs) > 0 {
		refNotes = append(refNotes, "kept, as references to tables left out: "+strings.Join(leftOutRefs, ", "))
	}

	referredBy := map[string][]tenantdb.ForeignKey{}
	for _, fk := range p.cat.Referencing(n.name) {
		for _, c := range fk.RefColumns {
			referredBy[c] = append(referredBy[c], fk)
		}
	}
	var noFit []string
	for _, f := range findings {
		c, ok := t.Column(f.Column)
		if !ok || done[f.Column] {
			continue
		}
		done[f.Column] = true
		ch, ok := chooseStrategy(f, c)
		if !ok {
			noFit = append(noFit, fmt.Sprintf("%s (%s: %s)", f.Column, f.Category, ch.passed))
			continue
		}
		e.PersonalColumns = append(e.PersonalColumns, privacyv1alpha1.PersonalColumn{Column: f.Column, Category: f.Category, Strategy: ch.strategy})
		var lines []string
		for _, r := range f.Reasons {
			lines = append(lines, r.Detail)
		}
		note := strings.Join(lines, "; ")
		if ch.passed != "" {
			note += "; " + ch.passed
		}
		out := []string{note}
		for _, fk := range referredBy[f.Column] {
			if fk.OnUpdate != tenantdb.OnDeleteCascade {
				out = append(out, fmt.Sprintf("warning: %s(%s) refers to this column without ON UPDATE CASCADE: masking it fails while such rows exist",
					fk.Table, strings.Join(fk.Columns, ", ")))
			}
		}
		en.columns[f.Column] = out
	}
	if len(noFit) > 0 {
		en.personal = append(en.personal, "left out, as no strategy fits the column: "+strings.Join(noFit, "; "))
	}
	if len(e.PersonalColumns) > maxColumns {
		var over []string
		for _, pc := range e.PersonalColumns[maxColumns:] {
			over = append(over, pc.Column)
		}
		e.PersonalColumns = e.PersonalColumns[:maxColumns]
		en.personal = append(en.personal, fmt.Sprintf("left out, as an entity holds %d personal columns: %s", maxColumns, strings.Join(over, ", ")))
	}

	var unlisted []string
	for _, c := range t.Columns {
		if done[c.Name] {
			continue
		}
		if reportingLike(c) {
			reporting = append(reporting, c.Name)
		} else {
			unlisted = append(unlisted, c.Name)
		}
	}
	reporting = orderLike(t, reporting)
	if len(reporting) > maxColumns {
		refNotes = append(refNotes, fmt.Sprintf("not listed, as an entity lists %d reporting columns: %s", maxColumns,
			strings.Join(reporting[maxColumns:], ", ")))
		reporting = reporting[:maxColumns]
	}
	e.ReportingColumns = reporting
	if len(unlisted) > 0 {
		refNotes = append(refNotes, "not listed, neither personal by name, type or sampled content nor plainly a date, number, status or "+
			"reference: "+strings.Join(unlisted, ", "))
	}
	en.reporting = refNotes
}

// referenceNote says what a foreign key that is not a relation refers to;
// other is true for a mapped table (a note of its own), false for a table
// left out (listed together).
func (p *plan) referenceNote(n *node, fk tenantdb.ForeignKey) (string, bool) {
	cols := strings.Join(fk.Columns, ", ")
	if fk.RefTable == n.name {
		return fmt.Sprintf("%s refers to another row of this table: kept", cols), true
	}
	m, ok := p.nodes[fk.RefTable]
	if !ok {
		return fmt.Sprintf("%s (%s)", cols, fk.RefTable), false
	}
	if m.family != n.family {
		what := "a subject of another kind"
		if !m.root {
			what = "rows of " + an(p.familyName(m.family))
		}
		return fmt.Sprintf("%s refers to %s (%s), %s: kept, not a relation, so a request about %s does not include these "+
			"rows; add {entity: %s, direction: Child, columns: [%s]} to the relations if they are that person's data too",
			cols, m.entity, m.name, what, an(p.familyName(m.family)), m.entity, cols), true
	}
	return fmt.Sprintf("%s refers to %s (%s): kept, not a relation, as these rows are reached through the relations above", cols, m.entity, m.name), true
}

// orderLike orders column names as the table orders its columns.
func orderLike(t *tenantdb.Table, names []string) []string {
	pos := map[string]int{}
	for i, c := range t.Columns {
		pos[c.Name] = i
	}
	slices.SortStableFunc(names, func(a, b string) int { return pos[a] - pos[b] })
	return names
}
