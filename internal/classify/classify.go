// Package classify finds the columns of a live PostgreSQL schema that hold
// personal data, before anyone has written a DataInventory for it.
//
// It weighs four signals for every column of every table of a
// tenantdb.Catalog:
//
//   - the column's name, read as words in English, Swedish, French, German
//     and Spanish (first_name, E-Post, Geburtsdatum, numéro de sécurité
//     sociale, contraseña);
//   - its type (inet, macaddr and cidr hold network addresses, bytea holds
//     pictures or documents, a date named for a birth is a birth date);
//   - its content, sampled inside the database (Classify only): for a
//     bounded sample of each table, SQL counts the values shaped like
//     e-mail addresses, phone numbers, IP addresses, IBANs, payment cards,
//     Swedish personnummer, French NIR and US social security numbers, with
//     their check digits computed in SQL. Only those counts leave the
//     database, never a value;
//   - where its table sits in the foreign-key graph: a column is reported
//     only in a table that holds people's data itself or is reached from
//     one (see FromCatalog for the rule), so the name of a genre, a shipper
//     or a product category is not.
//
// The package imports no Kubernetes code: plain values in, plain values
// out. It logs nothing, and no error or reason it returns holds a value of
// the tenant's rows.
package classify

import (
	"slices"
	"sort"
	"time"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// ReasonKind is the kind of signal a reason reports.
type ReasonKind string

// The kinds of reasons.
const (
	// ReasonName: the column's name (or the table around it) says so.
	ReasonName ReasonKind = "Name"
	// ReasonType: the column's SQL type says so.
	ReasonType ReasonKind = "Type"
	// ReasonContent: the sampled values say so.
	ReasonContent ReasonKind = "Content"
)

// Reason is one signal behind a finding.
type Reason struct {
	Kind ReasonKind
	// Detail says it for a person, without any value of the column:
	// `name matches "e-post"`, `type inet holds IP addresses`,
	// `content: 48/50 sampled values are e-mail addresses (96%)`.
	Detail string
	// Ratio is, for a content reason, the share of the sampled non-null
	// values that matched (0 to 1); 0 for the other kinds.
	Ratio float64
}

// Finding is one column that holds personal data.
type Finding struct {
	// Table is the canonical schema.table (tenantdb.TableName.String).
	Table  string
	Column string
	// Category is the kind of personal data. Credentials (passwords and
	// their hashes, secrets, API keys, tokens) are Other: they are
	// personal data, but not a way to find a person, which Identifier is.
	Category privacyv1alpha1.DataCategory
	// Identifier suggests the column identifies the person it belongs to
	// (an e-mail address, a user name, a customer or employee number, a
	// national id): a DataInventory's subject identifiers are chosen among
	// these.
	Identifier bool
	// Reasons are the signals, the deciding one first.
	Reasons []Reason
}

// TableRole says how a table relates to the people in the schema.
type TableRole string

// The roles of tables.
const (
	// RoleSubject: the table's rows are people (customers, employees,
	// contact persons): it holds a person's own name, a unique identifier
	// (e-mail, user name, customer number), or identifiers without being
	// reached from another subject table.
	RoleSubject TableRole = "Subject"
	// RoleRelated: the table holds people's data or belongs to them: it
	// holds strong signals itself, refers to a subject or related table
	// (directly or through others), or is referred to by one and holds
	// contact data without being a lookup table or named for things (an addresses table,
	// not a cities table).
	RoleRelated TableRole = "Related"
	// RoleLookup: a shared table that related tables point at (countries,
	// currencies, genres, products, shippers): its columns are not
	// reported.
	RoleLookup TableRole = "Lookup"
	// RoleUnrelated: none of the above; its columns are not reported.
	RoleUnrelated TableRole = "Unrelated"
)

// Table is what the classifier learned about one table.
type Table struct {
	// Name is the canonical schema.table.
	Name string
	Role TableRole
	// Via is the foreign key through which a Related table is reached from
	// the subject tables (breadth first, so on a shortest path): the
	// table's own foreign key to the table it belongs to (Via.Table is this
	// table), or the foreign key of a table that points at it (Via.RefTable
	// is this table). Nil for the other roles, and for a related table no
	// subject table reaches (a log of IP addresses with no foreign key).
	Via *tenantdb.ForeignKey
	// Identifiers are, for a Subject table, the columns that identify its
	// rows' people (Finding.Identifier), unique ones first.
	Identifiers []string
	// Rows is PostgreSQL's estimate of the table's rows.
	Rows int64
	// Sampled is the number of rows whose values were sampled (Classify
	// only; 0 when the table has no column worth sampling).
	Sampled int64
	// SampleError says why the table's content could not be sampled; its
	// findings then rest on names and types. It names the table and holds
	// no row value.
	SampleError string
}

// Result is the classification of a schema.
type Result struct {
	// Findings are the personal columns, by table, in column order.
	Findings []Finding
	// Tables are every table of the catalog, by name.
	Tables []Table
}

// Options bound Classify's sampling.
type Options struct {
	// SampleRows is how many rows are read per table (default 200, at most
	// 10000).
	SampleRows int
	// StatementTimeout bounds each table's sampling statement (default 2s);
	// a table that runs out of it is reported in Table.SampleError.
	StatementTimeout time.Duration
}

// Defaults and bounds of Options.
const (
	DefaultSampleRows       = 200
	MaxSampleRows           = 10000
	DefaultStatementTimeout = 2 * time.Second
)

// FromCatalog classifies the columns of cat by their names and types and
// the foreign-key graph, without reading a row: for callers without a
// database connection, and for checks that run often.
//
// Which tables are reported: a table is a root when one of its columns
// holds a strong signal (a person's name, an e-mail address, a user name,
// a national id or person number, an IP address, credentials, an account
// or card number). From the roots, every table that refers to a reported
// table through a foreign key is reported too (their rows belong to the
// same people), and so is every table a reported table refers to that
// holds contact data (an address, a phone), is not named for things
// (cities, stores, companies) and is not a lookup table. A lookup table is
// one whose rows are shared: some table that refers to it has at least
// five times as many rows (PostgreSQL's estimates), so countries,
// currencies, shippers and categories are lookups, while an addresses
// table that customers point at one to one is not. A table with generic
// columns only (name, description, picture) is never reached from the
// tables that point at it: the name of a genre or a product is not a
// person's. A bare "name" counts as a person's when the table is named for
// people (customers, employees, Kunden) and not when it is named for
// things (countries, products); state, region and extension count beside
// another address or phone column only; a numeric key (customer_id) is
// never personal by its name, and a foreign key is reported only when the
// column it refers to is.
func FromCatalog(cat *tenantdb.Catalog) *Result {
	return assemble(cat, nil)
}

// assemble combines every signal into the result; samples may be nil.
func assemble(cat *tenantdb.Catalog, samples map[string]*tableSample) *Result {
	names := make([]string, 0, len(cat.Tables))
	for name := range cat.Tables {
		names = append(names, name)
	}
	sort.Strings(names)
	sigs := map[string][]*signal{}
	for _, name := range names {
		sigs[name] = tableSignals(cat.Tables[name], samples[name])
	}
	inheritForeignKeys(cat, sigs)
	g := newGraph(cat, sigs)
	res := &Result{}
	for _, name := range names {
		t := cat.Tables[name]
		tr := Table{Name: name, Rows: t.Rows, Role: g.role(name), Via: g.via[name]}
		if s := samples[name]; s != nil {
			tr.Sampled, tr.SampleError = s.sampled, s.err
		}
		inScope := tr.Role == RoleSubject || tr.Role == RoleRelated
		var unique, other []string
		for i, s := range sigs[name] {
			if s == nil || !inScope {
				continue
			}
			c := t.Columns[i]
			res.Findings = append(res.Findings, Finding{Table: name, Column: c.Name, Category: s.cat,
				Identifier: s.identifier, Reasons: s.reasons})
			if s.identifier && tr.Role == RoleSubject {
				if c.Unique {
					unique = append(unique, c.Name)
				} else {
					other = append(other, c.Name)
				}
			}
		}
		if tr.Role == RoleSubject {
			tr.Identifiers = slices.Concat(unique, other)
		}
		res.Tables = append(res.Tables, tr)
	}
	return res
}

// tableSignals reads every column of a table: its name and type, weighed
// against the other columns and the table's name, and its sampled content.
func tableSignals(t *tenantdb.Table, sample *tableSample) []*signal {
	out := make([]*signal, len(t.Columns))
	for i, c := range t.Columns {
		if s, ok := columnSignal(c); ok {
			out[i] = &s
		}
	}
	has := func(cat privacyv1alpha1.DataCategory) bool {
		return slices.ContainsFunc(out, func(s *signal) bool { return s != nil && s.cat == cat && s.role == plain })
	}
	head := headNoun(t.Name)
	for i, s := range out {
		if s == nil {
			continue
		}
		c := t.Columns[i]
		switch s.role {
		case bareName:
			switch {
			case thingNoun(head):
				out[i] = nil
			case personNoun(head):
				s.str, s.role = strong, selfName
				s.reasons[0].Detail += ", in table " + t.Name + " (people)"
			}
		case needsAddress:
			if !has(catAddress) {
				out[i] = nil
			} else {
				s.reasons[0].Detail += ", beside address columns"
			}
		case needsPhone:
			if !has(catPhone) {
				out[i] = nil
			} else {
				s.reasons[0].Detail += ", beside phone columns"
			}
		case personNumber:
			if slices.Contains(t.PrimaryKey, c.Name) {
				out[i] = nil // the table's own key, mapped as its primary key
			}
		}
	}
	if sample != nil {
		for i, c := range t.Columns {
			out[i] = withContent(out[i], sample.columns[c.Name])
		}
	}
	return out
}

// inheritForeignKeys keeps a foreign-key column only when the column it
// refers to is personal (an e-mail that refers to a member's e-mail), and
// gives it that column's category when its own name says nothing; a
// foreign key to a surrogate key or a lookup's code is a link, not
// personal data. Content found in the column itself is kept either way.
func inheritForeignKeys(cat *tenantdb.Catalog, sigs map[string][]*signal) {
	type ref struct{ table, column string }
	refs := map[ref]ref{}
	for _, fk := range cat.ForeignKeys {
		for k, c := range fk.Columns {
			if k < len(fk.RefColumns) {
				refs[ref{fk.Table, c}] = ref{fk.RefTable, fk.RefColumns[k]}
			}
		}
	}
	signalOf := func(r ref) (*signal, bool) {
		t, ok := cat.Tables[r.table]
		if !ok {
			return nil, false
		}
		for i, c := range t.Columns {
			if c.Name == r.column {
				return sigs[r.table][i], true
			}
		}
		return nil, false
	}
	// Decide from the signals as the names left them, so that the order of
	// the tables does not matter.
	decided := map[ref]*signal{}
	for from, to := range refs {
		own, ok := signalOf(from)
		if !ok {
			continue
		}
		target, _ := signalOf(to)
		switch {
		case own != nil && own.evidence:
			decided[from] = own
		case target == nil:
			decided[from] = nil
		case own == nil:
			decided[from] = &signal{cat: target.cat, str: target.str, identifier: target.identifier,
				reasons: []Reason{{Kind: ReasonName, Detail: "a foreign key to " + to.table + "." + to.column + ", which holds " + string(target.cat)}}}
		default:
			decided[from] = own
		}
	}
	for from, s := range decided {
		t := cat.Tables[from.table]
		for i, c := range t.Columns {
			if c.Name == from.column {
				sigs[from.table][i] = s
			}
		}
	}
}
