package inventory

import (
	"sort"
	"strings"
	"unicode"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// personalWords are name tokens that make a column look personal.
var personalWords = map[string]bool{
	"name": true, "firstname": true, "lastname": true, "surname": true, "fullname": true, "username": true,
	"email": true, "mail": true, "phone": true, "mobile": true, "fax": true, "telephone": true,
	"address": true, "street": true, "postal": true, "postcode": true, "zip": true, "zipcode": true, "city": true,
	"ip": true, "birth": true, "birthday": true, "birthdate": true, "dob": true, "ssn": true,
	"comment": true, "comments": true, "note": true, "notes": true, "body": true, "transcript": true,
	"description": true, "remarks": true, "message": true, "agent": true,
}

// Uncovered lists the columns of the live schema whose names or types look
// personal (names, e-mail, phone, address, IP, birth date, free text) but that
// the inventory does not mention, as sorted `schema.table.column` names.
// Integer key columns (`*_id`) are not counted.
func Uncovered(spec *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) []string {
	covered := map[string]bool{}
	mark := func(table string, cols ...string) {
		table = tenantdb.CanonicalTableName(table)
		for _, c := range cols {
			covered[table+"."+c] = true
		}
	}
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range spec.Entities {
		byName[spec.Entities[i].Name] = &spec.Entities[i]
	}
	for _, e := range spec.Entities {
		mark(e.Table, e.PrimaryKey...)
		mark(e.Table, e.ReportingColumns...)
		for _, pc := range e.PersonalColumns {
			mark(e.Table, pc.Column)
		}
		if e.Subject != nil {
			for _, id := range e.Subject.Identifiers {
				mark(e.Table, id.Column)
			}
		}
		for _, r := range e.Relations {
			holder := e.Table
			if o, ok := byName[r.Entity]; ok && r.Direction == privacyv1alpha1.RelationReferenced {
				holder = o.Table
			}
			mark(holder, r.Columns...)
		}
	}
	var out []string
	for key, t := range cat.Tables {
		for _, c := range t.Columns {
			name := key + "." + c.Name
			if !covered[name] && looksPersonal(c) {
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out
}

func looksPersonal(c tenantdb.Column) bool {
	switch strings.ToLower(c.Type) {
	case "inet", "cidr", "macaddr", "macaddr8":
		return true
	}
	words := splitWords(c.Name)
	if len(words) > 1 && words[len(words)-1] == "id" && c.Category == 'N' { // numeric (pg_type.typcategory)
		return false // a key, not an identifier
	}
	for i, w := range words {
		if personalWords[w] {
			return true
		}
		if i > 0 && personalWords[words[i-1]+w] {
			return true // first_name, user_name, birth_date, ...
		}
	}
	return false
}

// splitWords splits snake_case and camelCase names into lower-case words.
func splitWords(name string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for _, r := range name {
		switch {
		case r == '_' || r == '-' || r == ' ':
			flush()
		case unicode.IsUpper(r) && len(cur) > 0 && !unicode.IsUpper(cur[len(cur)-1]):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return words
}
