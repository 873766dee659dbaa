package masking

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// rowPseudonym renders a Pseudonym format per row in SQL (Keys.PerRow):
// literal text as it is, {n} as the row's first primary-key column and
// {hex:N} as the first N hex digits of the HMAC-SHA-256 (with HashKey) or
// SHA-256 of the row's key text. The result depends only on the row's key,
// so masking a row twice writes the same value.
func (cp *compiler) rowPseudonym(s privacyv1alpha1.MaskingStrategy, c Column, v string) (string, error) {
	if cp.row == nil {
		return "", errors.New("column " + c.Name + ": a per-row pseudonym needs the row's primary key; build the statement with UpdateSQL")
	}
	keyText := rowAlias + "." + cp.row.pk[0] + "::text"
	if len(cp.row.pk) > 1 {
		parts := make([]string, len(cp.row.pk))
		for i, k := range cp.row.pk {
			parts[i] = rowAlias + "." + k + "::text"
		}
		keyText = strings.Join(parts, " || '_' || ")
	}
	keyed := cp.keys.Identifier != ""
	if keyed {
		if len(cp.keys.HashKey) == 0 {
			return "", errors.New("column " + c.Name + ": a keyed pseudonym needs the HMAC key")
		}
		keyText = rowAlias + "." + pgx.Identifier{cp.keys.Identifier}.Sanitize() + "::text"
	}
	digest := fmt.Sprintf("encode(sha256(convert_to(%s, 'UTF8')), 'hex')", keyText)
	if len(cp.keys.HashKey) > 0 {
		ipad, opad := hmacPads(cp.keys.HashKey)
		digest = fmt.Sprintf("encode(sha256(%s::bytea || sha256(%s::bytea || convert_to(%s, 'UTF8'))), 'hex')",
			cp.args.addShared("rowpad:o", opad), cp.args.addShared("rowpad:i", ipad), keyText)
	}
	format := *s.Format
	var parts []string
	at := 0
	for _, loc := range placeholder.FindAllStringSubmatchIndex(format, -1) {
		if lit := format[at:loc[0]]; lit != "" {
			parts = append(parts, cp.args.Add(lit)+"::text")
		}
		switch {
		case loc[2] < 0 && keyed:
			parts = append(parts, fmt.Sprintf("(('x' || left(%s, 12))::bit(48)::bigint)::text", digest))
		case loc[2] < 0:
			parts = append(parts, keyText)
		default:
			n, _ := strconv.Atoi(format[loc[2]:loc[3]]) // checkFormat bounded it
			parts = append(parts, fmt.Sprintf("left(%s, %d)", digest, n))
		}
		at = loc[1]
	}
	if lit := format[at:]; lit != "" {
		parts = append(parts, cp.args.Add(lit)+"::text")
	}
	head := "(" + strings.Join(parts, " || ") + ")"
	if (strings.Contains(format, "{n}") && !keyed) || cp.bare {
		// The key makes the value unique already; only a bounded column
		// needs a cut.
		if n := maxLen(c); n > 0 {
			head = fmt.Sprintf("left(%s, %d)", head, n)
		}
		return fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL ELSE %s END", v, head), nil
	}
	e, err := cp.distinct(c, head, "", 0)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL ELSE %s END", v, e), nil
}
