package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Row is the alias every statement of the executor gives the table it
// changes or reads.
const Row = "lethe_row"

// Target is a table as the executor addresses its rows: by a key of one or
// more columns (the primary key, or a unique index over NOT NULL columns),
// each row's key travelling as one text (see KeyText).
type Target struct {
	// Name is the table's canonical name (tenantdb.TableName.String).
	Name string
	// Ident is the table quoted for SQL.
	Ident string
	// Key are the key columns, in key order.
	Key []KeyColumn
	// KeySource says where the key comes from ("primary key", "unique
	// index NAME").
	KeySource string
	// Partitioned says the table is partitioned; its partitions are reached
	// through it.
	Partitioned bool
	// Table is the live table.
	Table *tenantdb.Table
}

// KeyColumn is one key column.
type KeyColumn struct {
	Name  string
	Ident string // quoted for SQL
	Type  string // as format_type prints it, from the catalog
	// Plain says the column's text never holds a character JSON escapes
	// (a quote, a backslash, a control character): see plainTypes.
	Plain bool
}

// NewTarget addresses a live table by keyCols, or by the table's own key
// (its primary key, else its smallest unique index over NOT NULL columns)
// when keyCols is empty.
func NewTarget(t *tenantdb.Table, keyCols []string) (*Target, error) {
	source := t.KeySource
	if len(keyCols) == 0 {
		keyCols = t.Key
	} else if !slices.Equal(keyCols, t.Key) {
		source = "the inventory's primaryKey"
		if !t.IsUniqueKey(keyCols) {
			return nil, fmt.Errorf("table %s: columns (%s) are not a unique key of the table", t.TableName(), strings.Join(keyCols, ", "))
		}
	}
	if len(keyCols) == 0 {
		return nil, fmt.Errorf("table %s has no primary key and no unique index over NOT NULL columns: add one, so its rows can be told apart", t.TableName())
	}
	out := &Target{Name: t.TableName().String(), Ident: t.Ident(), KeySource: source, Partitioned: t.Partitioned, Table: t}
	for _, k := range keyCols {
		c, ok := t.Column(k)
		if !ok {
			return nil, fmt.Errorf("table %s: key column %s does not exist", t.TableName(), k)
		}
		if !c.NotNull {
			return nil, fmt.Errorf("table %s: key column %s may be NULL, so it cannot tell rows apart", t.TableName(), k)
		}
		out.Key = append(out.Key, KeyColumn{Name: c.Name, Ident: pgx.Identifier{c.Name}.Sanitize(), Type: c.Type, Plain: plainText(c)})
	}
	return out, nil
}

// plainTypes are the built-in types whose text never holds a character
// JSON escapes, by the name format_type prints (type modifiers left out)
// and their pg_type.typcategory. Every other type, a domain over one of
// these, an enum or a type of an extension among them, has its key text
// built by json_build_array.
var plainTypes = map[string]byte{
	"smallint": 'N', "integer": 'N', "bigint": 'N', "numeric": 'N', "real": 'N', "double precision": 'N',
	"date": 'D', "timestamp without time zone": 'D', "timestamp with time zone": 'D',
	"time without time zone": 'D', "time with time zone": 'D',
	"boolean": 'B', "inet": 'I', "cidr": 'I', "uuid": 'U',
}

// plainText says c's text never holds a character JSON escapes: c is of
// one of plainTypes. The category must match too, so that a type of the
// same name in another schema (format_type qualifies it, unless the
// search_path puts it first) does not pass.
func plainText(c tenantdb.Column) bool {
	name := c.Type
	if i := strings.IndexByte(name, '('); i >= 0 {
		if j := strings.IndexByte(name[i:], ')'); j >= 0 {
			name = name[:i] + name[i+j+1:]
		}
	}
	cat, ok := plainTypes[name]
	return ok && cat == c.Category
}

// Composite says the key has more than one column.
func (t *Target) Composite() bool { return len(t.Key) > 1 }

// Cols are the key columns of alias, joined for a row value or an ORDER
// BY: `a.x` or `a.x, a.y`.
func (t *Target) Cols(alias string) string {
	parts := make([]string, len(t.Key))
	for i, k := range t.Key {
		parts[i] = alias + "." + k.Ident
	}
	return strings.Join(parts, ", ")
}

// KeyText is the SQL expression of a row's key as text: the column's text
// for a one-column key, a JSON array of the columns' texts for a composite
// one (`["2025-03-01 10:00:00+00", "17"]`, as json_build_array prints it).
// Connections print values the same way (tenantdb pins TimeZone and
// DateStyle), so a row's key text is the same on every connection. When
// no key column's text needs escaping in JSON, the array is written by
// concatenation, the same text at a fraction of json_build_array's cost
// (a batch writes one for every row it changes).
func (t *Target) KeyText(alias string) string {
	if !t.Composite() {
		return alias + "." + t.Key[0].Ident + "::text"
	}
	parts := make([]string, len(t.Key))
	plain := true
	for i, k := range t.Key {
		parts[i] = alias + "." + k.Ident + "::text"
		plain = plain && k.Plain
	}
	if plain {
		return `('["' || ` + strings.Join(parts, ` || '", "' || `) + ` || '"]')`
	}
	return "pg_catalog.json_build_array(" + strings.Join(parts, ", ") + ")::text"
}

// In is the condition that alias's key is one of the key texts in the
// text[] parameter param.
func (t *Target) In(alias, param string) string {
	if !t.Composite() {
		k := t.Key[0]
		return fmt.Sprintf("%s.%s = ANY(CAST(%s::text[] AS %s[]))", alias, k.Ident, param, k.Type)
	}
	casts := make([]string, len(t.Key))
	for i, k := range t.Key {
		casts[i] = fmt.Sprintf("CAST(lethe_k.j ->> %d AS %s)", i, k.Type)
	}
	return fmt.Sprintf("(%s) IN (SELECT %s FROM (SELECT CAST(lethe_t AS jsonb) AS j FROM pg_catalog.unnest(%s::text[]) AS lethe_t) AS lethe_k)",
		t.Cols(alias), strings.Join(casts, ", "), param)
}

// After is the condition that alias's key comes after the key whose column
// texts are the parameters params (one per key column), in key order: a
// row-value comparison, which an index on the key answers with a range
// scan.
func (t *Target) After(alias string, params []string, inclusive bool) string {
	op := ">"
	if inclusive {
		op = ">="
	}
	vals := make([]string, len(t.Key))
	for i, k := range t.Key {
		vals[i] = fmt.Sprintf("CAST(%s::text AS %s)", params[i], k.Type)
	}
	if !t.Composite() {
		return fmt.Sprintf("%s.%s %s %s", alias, t.Key[0].Ident, op, vals[0])
	}
	return fmt.Sprintf("(%s) %s (%s)", t.Cols(alias), op, strings.Join(vals, ", "))
}

// OrderBy is the key order of alias.
func (t *Target) OrderBy(alias string) string { return t.Cols(alias) }

// Split returns the column texts of a key text, one per key column.
func (t *Target) Split(key string) ([]string, error) {
	if !t.Composite() {
		return []string{key}, nil
	}
	var parts []string
	if err := json.Unmarshal([]byte(key), &parts); err != nil || len(parts) != len(t.Key) {
		return nil, fmt.Errorf("table %s: a key of %d columns cannot be read from its stored form", t.Name, len(t.Key))
	}
	return parts, nil
}
