// Package masking compiles the masking strategies of a DataInventory into
// set-based SQL: one UPDATE masks every selected row of a table, reading each
// row's current value in the database, with no row round trips.
//
// Identifiers reach SQL only through pgx.Identifier.Sanitize and values only
// as $n parameters collected in Args. Expressions call built-in functions
// unqualified and rely on the operator's connections pinning search_path to
// pg_catalog (tenantdb.SearchPath). No extension is needed: Hash computes
// HMAC-SHA-256 with the built-in sha256(bytea) (PostgreSQL 11 and later).
//
// Every strategy keeps NULL as NULL, so a row that had no value does not gain
// one. Check says whether a strategy fits a column, including its NOT NULL and
// unique constraints; Expr and UpdateSQL refuse what Check refuses.
package masking

import (
	"strconv"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Column is the target column, as ReadCatalog reads it from the live
// catalog: name, type (format_type), type category, NOT NULL and Unique.
type Column = tenantdb.Column

// Keys are the per-run inputs a strategy may need. Nothing in Keys is
// personal: the subject appears only as a non-reversible token.
type Keys struct {
	// HashKey is the HMAC key of the Hash strategy (from the Secret named in
	// keySecretRef), or nil. Pseudonym's {hex:N} also uses it when set.
	// Assignment.HashKey overrides it for one column.
	HashKey []byte
	// Subject is a stable, non-reversible token of the subject (for example
	// its salted digest, hex). Pseudonym's {hex:N} is derived from it, so a
	// subject gets the same pseudonym in every table and tenant.
	Subject string
	// Number is the subject's pseudonym number for {n}, at least 1,
	// consistent per subject (assigned by the caller).
	Number int64
	// Salt is mixed into the input before Fake picks its values, so a fake
	// cannot be matched to a guessed input without it. The same salt gives the
	// same fake for the same input everywhere; keep it secret and stable (for
	// example the operator's subject-digest salt). Nil means no salt.
	Salt []byte
	// PerRow renders Pseudonym per row rather than per subject, for rows of
	// many people at once (retention): {n} is the row's primary key and
	// {hex:N} the HMAC-SHA-256 (HashKey) or SHA-256 of its text. Subject and
	// Number are not used. Only UpdateSQL and PendingSQL, which know the row,
	// compile it.
	PerRow bool
	// Identifier, with PerRow, is the column holding the identifier a
	// subject has in every system (for example an employee id), and makes
	// per-row pseudonyms keyed by it rather than by the row's key: {hex:N}
	// is the HMAC-SHA-256 (HashKey, required) of the identifier's text and
	// {n} the number of its first 48 bits. Two databases that know the same
	// person under the same identifier, with the same key, so write the same
	// pseudonym, and nobody without the key can compute it from the
	// identifier. On a unique column a row gets "_" and its key appended
	// only when another row already holds the value (not merely because the
	// statement updates several rows): a statement whose rows collide with
	// each other fails with a unique violation, and the caller retries
	// those rows one statement each.
	Identifier string
}

// Args collects the $n parameters of a statement while its SQL is built. The
// zero value is ready to use.
type Args struct {
	values []any
	shared map[string]string
}

// Add appends a parameter and returns its placeholder, "$k".
func (a *Args) Add(v any) string {
	a.values = append(a.values, v)
	return "$" + strconv.Itoa(len(a.values))
}

// addShared adds v once per key and returns the same placeholder on later
// calls (the word lists and salts of several columns are sent once).
func (a *Args) addShared(key string, v any) string {
	if p, ok := a.shared[key]; ok {
		return p
	}
	if a.shared == nil {
		a.shared = map[string]string{}
	}
	p := a.Add(v)
	a.shared[key] = p
	return p
}

// Len is the number of parameters added so far.
func (a *Args) Len() int { return len(a.values) }

// Values are the parameters in placeholder order.
func (a *Args) Values() []any { return a.values }

// With returns the parameters followed by extra, in a new slice: the
// arguments of a statement whose last parameters (the key arrays of
// UpdateSQL) come after the collected ones.
func (a *Args) With(extra ...any) []any {
	out := make([]any, 0, len(a.values)+len(extra))
	return append(append(out, a.values...), extra...)
}

// Assignment is one column to mask and how.
type Assignment struct {
	// Column is the live column.
	Column Column
	// Strategy is the column's masking strategy (from the inventory, or a
	// rule's override).
	Strategy privacyv1alpha1.MaskingStrategy
	// HashKey, when set, is this column's HMAC key (from its strategy's
	// keySecretRef) and overrides Keys.HashKey for it.
	HashKey []byte
}

// Expr compiles a strategy for one column into a SQL expression for
// `SET col = <expr>` in an UPDATE of the column's table. It reads the current
// value as the bare column name, so it is set-based: one UPDATE masks every
// selected row. Parameters are added to args. The result is assignable to the
// column's type (PostgreSQL's assignment casts do the rest).
//
// It returns an error with the Check message when the strategy cannot apply,
// and when it needs a key the run lacks (Hash without HashKey, Pseudonym
// without Subject or Number). On a unique column, Pseudonym and Fake need the
// row's primary key to keep values distinct: Expr refuses them there; use
// UpdateSQL.
func Expr(s privacyv1alpha1.MaskingStrategy, c Column, k Keys, args *Args) (string, error) {
	cp := compiler{args: args, keys: k}
	return cp.compile(s, c, nil)
}
