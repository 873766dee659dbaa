package masking

import (
	"fmt"
	"regexp"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// PendingSQL builds a condition on the rows of table (schema.table, read as
// lethe_row) that is true when a row still holds a value that masking cols
// would change, so a policy that runs again selects only rows it has not
// masked yet, without remembering them:
//
//   - Nullify, Replace, Clear, Partial, Generalize and a per-row Pseudonym
//     write the same value when applied twice: a row is pending when a
//     column differs from its masked value;
//   - Hash and Fake derive the value from the current one, so masking twice
//     would change it again: a row is pending when a column does not look
//     like their output (hex digits of the hash's length; a fake built from
//     Fake's word lists).
//
// Parameters are added to args. A Pseudonym needs keys.PerRow (a subject's
// pseudonym belongs to requests, not to policies over many rows).
func PendingSQL(table string, cols []Assignment, pkCols []string, keys Keys, args *Args) (string, error) {
	target, pk, err := targetOf(table, pkCols)
	if err != nil {
		return "", err
	}
	if len(cols) == 0 {
		return "", fmt.Errorf("table %s: no columns to mask", table)
	}
	cp := compiler{args: args, keys: keys, row: &rowContext{table: target, pk: pk, several: "true"}}
	conds := make([]string, 0, len(cols))
	for _, a := range cols {
		c, s := a.Column, a.Strategy
		if why := Check(s, c); why != "" {
			return "", fmt.Errorf("table %s: column %s (%s) cannot take strategy %s: %s", table, c.Name, c.Type, s.Type, why)
		}
		v := cp.ref(c.Name)
		switch s.Type {
		case privacyv1alpha1.StrategyNullify:
			conds = append(conds, v+" IS NOT NULL")
		case privacyv1alpha1.StrategyHash:
			n := maxHex
			if l := maxLen(c); l > 0 && l < n {
				n = l
			}
			conds = append(conds, fmt.Sprintf("(%s IS NOT NULL AND %s::text !~ %s)", v, v, args.Add(fmt.Sprintf("^[0-9a-f]{%d}$", n))))
		case privacyv1alpha1.StrategyFake:
			conds = append(conds, fmt.Sprintf("(%s IS NOT NULL AND %s::text !~ %s)", v, v, args.Add(fakePattern(*s.Fake, s))))
		case privacyv1alpha1.StrategyPseudonym:
			if !keys.PerRow {
				return "", fmt.Errorf("table %s: column %s: a subject's pseudonym cannot select pending rows; use a per-row pseudonym", table, c.Name)
			}
			bare := compiler{args: args, keys: keys, row: cp.row, bare: true}
			e, err := bare.compile(s, c, a.HashKey)
			if err != nil {
				return "", fmt.Errorf("table %s: %w", table, err)
			}
			conds = append(conds, fmt.Sprintf("(%s IS DISTINCT FROM (%s) AND NOT starts_with(%s::text, (%s)::text || '_'))", v, e, v, e))
		default:
			e, err := cp.compile(s, c, a.HashKey)
			if err != nil {
				return "", fmt.Errorf("table %s: %w", table, err)
			}
			conds = append(conds, fmt.Sprintf("%s IS DISTINCT FROM (%s)", v, e))
		}
	}
	return "(" + strings.Join(conds, " OR ") + ")", nil
}

// fakePattern is a PostgreSQL regular expression that matches every value
// Fake of a kind writes, with the row discriminator ("_" and a key) a unique
// column may add, and little else: the words come from Fake's lists.
func fakePattern(kind privacyv1alpha1.FakeKind, s privacyv1alpha1.MaskingStrategy) string {
	const disc = `(_[^@]*)?`
	loc, _ := localeOf(s)
	first, last := alternatives(loc.first, false), alternatives(loc.last, false)
	switch kind {
	case fakeFirstName:
		return "^" + first + disc + "$"
	case fakeLastName:
		return "^" + last + disc + "$"
	case fakeName:
		return "^" + first + " " + last + disc + "$"
	case fakeEmail:
		return "^" + alternatives(loc.first, true) + `\.` + alternatives(loc.last, true) + `[0-9]{1,2}` + disc + `@example\.invalid$`
	case fakeUserName:
		return "^[a-z]" + alternatives(loc.last, true) + "[0-9]{1,2}" + disc + "$"
	case fakePhone:
		return "^" + regexp.QuoteMeta(loc.phonePrefix) + fmt.Sprintf("[0-9]{%d}", loc.phoneDigits) + disc + "$"
	case fakeAddress:
		if loc.numberAfter {
			return "^" + alternatives(loc.streets, false) + " [0-9]{1,3}" + disc + "$"
		}
		return "^[0-9]{1,3} " + alternatives(loc.streets, false) + disc + "$"
	case fakeCity:
		return "^" + alternatives(loc.cities, false) + disc + "$"
	default:
		return "^" + alternatives(companies, false) + disc + "$"
	}
}

func alternatives(words []string, lower bool) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		if lower {
			w = fold(w)
		}
		quoted[i] = regexp.QuoteMeta(w)
	}
	return "(?:" + strings.Join(quoted, "|") + ")"
}
