package tenantdb

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// TableName is a table's schema and name as PostgreSQL stores them (case
// and spaces kept, no quotes).
type TableName struct {
	Schema string
	Name   string
}

// plainIdent is an identifier PostgreSQL keeps as written without quotes.
var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

// maxIdentBytes is PostgreSQL's limit on an identifier (NAMEDATALEN - 1).
const maxIdentBytes = 63

// ParseTableName reads `schema.table` as an inventory names a table: each
// part is either a plain identifier (letters, digits, `_` and `$`, not
// starting with a digit; folded to lower case as PostgreSQL folds it) or a
// double-quoted one, which keeps case, spaces and any letter (`""` stands
// for a quote): `app.customers`, `public."Order Items"`, `"Sales".orders`.
func ParseTableName(s string) (TableName, error) {
	schema, rest, err := identPart(s)
	if err != nil {
		return TableName{}, fmt.Errorf("table %q: %w", s, err)
	}
	if !strings.HasPrefix(rest, ".") {
		return TableName{}, fmt.Errorf("table %q is not schema.table (quote a part that holds a dot, capitals or spaces: public.\"Order Items\")", s)
	}
	name, rest, err := identPart(rest[1:])
	if err != nil {
		return TableName{}, fmt.Errorf("table %q: %w", s, err)
	}
	if rest != "" {
		return TableName{}, fmt.Errorf("table %q is not schema.table: %q follows the table name", s, rest)
	}
	return TableName{Schema: schema, Name: name}, nil
}

// identPart reads one identifier at the start of s and returns it and what
// follows.
func identPart(s string) (string, string, error) {
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] != '"' {
				b.WriteByte(s[i])
				continue
			}
			if i+1 < len(s) && s[i+1] == '"' {
				b.WriteByte('"')
				i++
				continue
			}
			id := b.String()
			if id == "" || len(id) > maxIdentBytes {
				return "", "", fmt.Errorf("a quoted identifier holds 1 to %d bytes", maxIdentBytes)
			}
			return id, s[i+1:], nil
		}
		return "", "", fmt.Errorf("a quoted identifier is not closed")
	}
	end := strings.IndexByte(s, '.')
	if end < 0 {
		end = len(s)
	}
	id := strings.ToLower(s[:end])
	if !plainIdent.MatchString(id) {
		return "", "", fmt.Errorf("%q is not an identifier: quote it (\"%s\") when it holds capitals, spaces or other letters", s[:end], s[:end])
	}
	if len(id) > maxIdentBytes {
		return "", "", fmt.Errorf("identifier %q is longer than %d bytes", id, maxIdentBytes)
	}
	return id, s[end:], nil
}

// String is the canonical form of the name: `schema.table`, each part bare
// when it is a plain lower-case identifier and double-quoted otherwise. The
// catalog is keyed by it, and inventories name tables by it.
func (n TableName) String() string { return quoteIfNeeded(n.Schema) + "." + quoteIfNeeded(n.Name) }

// Sanitize is the name quoted for SQL.
func (n TableName) Sanitize() string { return pgx.Identifier{n.Schema, n.Name}.Sanitize() }

func quoteIfNeeded(id string) string {
	if plainIdent.MatchString(id) {
		return id
	}
	return `"` + strings.ReplaceAll(id, `"`, `""`) + `"`
}

// CanonicalTableName is the canonical form of a table name as an inventory
// may write it, or the name itself when it does not parse (a lookup of it
// then finds nothing, and the caller reports the table as missing).
func CanonicalTableName(s string) string {
	n, err := ParseTableName(s)
	if err != nil {
		return s
	}
	return n.String()
}

// QuoteTable is a table name as an inventory writes it, quoted for SQL.
func QuoteTable(s string) (string, error) {
	n, err := ParseTableName(s)
	if err != nil {
		return "", err
	}
	return n.Sanitize(), nil
}

// QuoteIdent is an identifier as messages and status print it: bare when it
// is a plain lower-case identifier, double-quoted otherwise, as each part of
// a canonical table name is (`member_id`, `"Card Number"`).
func QuoteIdent(id string) string { return quoteIfNeeded(id) }
