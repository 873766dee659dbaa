package masking

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// The aliases UpdateSQL gives the masked table: the row being updated, and
// another row of the same table in the uniqueness probe.
const (
	rowAlias   = "lethe_row"
	otherAlias = "lethe_other"
)

// rowContext is what an expression needs to keep a unique column unique: the
// table, its primary key, and whether the statement updates several rows.
type rowContext struct {
	table   string   // sanitized schema.table
	pk      []string // sanitized primary-key columns
	several string   // SQL: true when the statement updates more than one row
}

// compiler turns strategies into SQL expressions for one statement.
type compiler struct {
	args *Args
	keys Keys
	row  *rowContext // nil outside UpdateSQL: columns are read bare
	// bare leaves out the row discriminator a unique column may get, so
	// PendingSQL can recognise a value with or without it.
	bare bool
}

// ref is how the statement reads a column of the row being updated.
func (cp *compiler) ref(col string) string {
	id := pgx.Identifier{col}.Sanitize()
	if cp.row == nil {
		return id
	}
	return rowAlias + "." + id
}

func (cp *compiler) compile(s privacyv1alpha1.MaskingStrategy, c Column, hashKey []byte) (string, error) {
	if why := Check(s, c); why != "" {
		return "", fmt.Errorf("column %s (%s) cannot take strategy %s: %s", c.Name, c.Type, s.Type, why)
	}
	v := cp.ref(c.Name)
	switch s.Type {
	case privacyv1alpha1.StrategyNullify:
		return "NULL", nil
	case privacyv1alpha1.StrategyReplace:
		cast := "text"
		if kindOf(c) != kindText {
			cast = "numeric"
		}
		return fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL ELSE %s::%s END", v, cp.args.Add(*s.Value), cast), nil
	case privacyv1alpha1.StrategyClear:
		if c.Unique {
			return "NULL", nil
		}
		return fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL ELSE ''::text END", v), nil
	case privacyv1alpha1.StrategyHash:
		return cp.hash(c, v, hashKey)
	case privacyv1alpha1.StrategyPseudonym:
		return cp.pseudonym(s, c, v)
	case privacyv1alpha1.StrategyFake:
		loc, name := localeOf(s)
		head, tail, tailLen := cp.fakeParts(*s.Fake, loc, name, v)
		return cp.distinct(c, head, tail, tailLen)
	case privacyv1alpha1.StrategyPartial:
		return cp.partial(s, v), nil
	default: // Generalize; Check refused unknown types
		return cp.generalize(s, c, v), nil
	}
}

// hash is the lower-case hex HMAC-SHA-256 of the value's UTF-8 text, cut to
// the column's length when it holds fewer than 64 characters.
func (cp *compiler) hash(c Column, v string, key []byte) (string, error) {
	if len(key) == 0 {
		key = cp.keys.HashKey
	}
	if len(key) == 0 {
		return "", fmt.Errorf("column %s: Hash needs the HMAC key of its keySecretRef, and the run has none", c.Name)
	}
	e := HMACSQL(cp.args.Add, key, v+"::text")
	if n := maxLen(c); n > 0 && n < maxHex {
		e = fmt.Sprintf("left(%s, %s::int)", e, cp.args.Add(n))
	}
	return e, nil
}

// pseudonym is the subject's pseudonym, computed here and the same for every
// row of the statement.
func (cp *compiler) pseudonym(s privacyv1alpha1.MaskingStrategy, c Column, v string) (string, error) {
	if cp.keys.PerRow {
		return cp.rowPseudonym(s, c, v)
	}
	p, err := renderPseudonym(*s.Format, cp.keys)
	if err != nil {
		return "", fmt.Errorf("column %s: %w", c.Name, err)
	}
	if n, l := maxLen(c), utf8.RuneCountInString(p); n > 0 && l > n {
		return "", fmt.Errorf("column %s: the pseudonym has %d characters and the column holds at most %d", c.Name, l, n)
	}
	e, err := cp.distinct(c, cp.args.Add(p)+"::text", "", 0)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL ELSE %s END", v, e), nil
}

// distinct writes head ‖ tail, cut to a bounded column's length (head is cut,
// tail kept). On a unique column it stays unique: when another row already
// holds the value, or the statement updates several rows (which would all
// get it), "_" and the row's primary key are inserted between head and tail.
// A single row whose value is free gets the value itself, so a subject keeps
// the same pseudonym in every tenant.
func (cp *compiler) distinct(c Column, head, tail string, tailLen int) (string, error) {
	n := maxLen(c)
	fit := func(extra string) string {
		h := head
		switch {
		case n > 0 && extra != "":
			h = fmt.Sprintf("left(%s, greatest(%s::int - char_length(%s), 0))", head, cp.args.Add(n-tailLen), extra)
		case n > 0:
			h = fmt.Sprintf("left(%s, %s::int)", head, cp.args.Add(n-tailLen))
		}
		parts := []string{h}
		if extra != "" {
			parts = append(parts, extra)
		}
		if tail != "" {
			parts = append(parts, tail)
		}
		return strings.Join(parts, " || ")
	}
	if !c.Unique {
		return fit(""), nil
	}
	if cp.row == nil {
		return "", errors.New("column " + c.Name + " is unique: its masked values need the row's primary key to stay distinct; build the statement with UpdateSQL")
	}
	bare := fit("")
	keyText := make([]string, len(cp.row.pk))
	mine, theirs := make([]string, len(cp.row.pk)), make([]string, len(cp.row.pk))
	for i, k := range cp.row.pk {
		mine[i], theirs[i] = rowAlias+"."+k, otherAlias+"."+k
		keyText[i] = mine[i] + "::text"
	}
	disc := "('_' || " + strings.Join(keyText, " || '_' || ") + ")"
	col := pgx.Identifier{c.Name}.Sanitize()
	taken := fmt.Sprintf("EXISTS (SELECT 1 FROM %s AS %s WHERE %s.%s = %s AND (%s) IS DISTINCT FROM (%s))",
		cp.row.table, otherAlias, otherAlias, col, bare, strings.Join(theirs, ", "), strings.Join(mine, ", "))
	return fmt.Sprintf("CASE WHEN %s OR %s THEN %s ELSE %s END", cp.row.several, taken, fit(disc), bare), nil
}

// partial keeps keepPrefix leading and keepSuffix trailing characters and
// writes maskChar for each other one; a value no longer than both together
// is masked entirely.
func (cp *compiler) partial(s privacyv1alpha1.MaskingStrategy, v string) string {
	var prefix, suffix int32
	if s.KeepPrefix != nil {
		prefix = *s.KeepPrefix
	}
	if s.KeepSuffix != nil {
		suffix = *s.KeepSuffix
	}
	mask := "*"
	if s.MaskChar != nil {
		mask = *s.MaskChar
	}
	t, m := v+"::text", cp.args.Add(mask)+"::text"
	kept := cp.args.Add(prefix+suffix) + "::int"
	return fmt.Sprintf("CASE WHEN char_length(%[1]s) > %[2]s THEN left(%[1]s, %[3]s::int) || repeat(%[4]s, char_length(%[1]s) - %[2]s) || right(%[1]s, %[5]s::int) ELSE repeat(%[4]s, char_length(%[1]s)) END",
		t, kept, cp.args.Add(prefix), m, cp.args.Add(suffix))
}

// generalize truncates a date to its month or year (timestamptz in UTC, so
// the result does not depend on the session's time zone) or rounds a number
// down to a multiple of the bucket.
func (cp *compiler) generalize(s privacyv1alpha1.MaskingStrategy, c Column, v string) string {
	if s.Bucket != nil {
		b := cp.args.Add(*s.Bucket) + "::bigint"
		return fmt.Sprintf("floor(%s::numeric / %s) * %s", v, b, b)
	}
	unit := cp.args.Add(strings.ToLower(string(*s.Precision))) + "::text"
	switch kindOf(c) {
	case kindDate:
		return fmt.Sprintf("date_trunc(%s, %s::timestamp)::date", unit, v)
	case kindTimestampTZ:
		return fmt.Sprintf("date_trunc(%s, %s AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'", unit, v)
	default:
		return fmt.Sprintf("date_trunc(%s, %s)", unit, v)
	}
}
