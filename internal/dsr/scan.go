package dsr

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// phoneLike is a value that reads as a phone number: digits, spaces and
// + ( ) . - / only.
var phoneLike = regexp.MustCompile(`^[0-9 +().\-/]+$`)

// forms are what a column's values are compared with for a set of
// identifier values: each value lower-cased (an e-mail in another case is
// the same e-mail), and the digits of each value that reads as a phone
// number with 7 to 15 of them (a phone with other spacing is the same
// phone).
type forms struct{ lower, digits []string }

func formsOf(values []string) forms {
	var f forms
	for _, v := range values {
		f.lower = append(f.lower, strings.ToLower(v))
		if d, ok := phoneDigits(v); ok {
			f.digits = append(f.digits, d)
		}
	}
	slices.Sort(f.lower)
	slices.Sort(f.digits)
	return f
}

// phoneDigits are the digits of a value that reads as a phone number with
// 7 to 15 of them.
func phoneDigits(v string) (string, bool) {
	if !phoneLike.MatchString(v) {
		return "", false
	}
	d := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, v)
	return d, len(d) >= 7 && len(d) <= 15
}

// params adds the forms to args once, for every condition of a statement
// to name.
func (f forms) params(args *masking.Args) formParams {
	p := formParams{lower: args.Add(f.lower)}
	if len(f.digits) > 0 {
		p.digits = args.Add(f.digits)
	}
	return p
}

// formParams are the placeholders of a set's forms in a statement.
type formParams struct{ lower, digits string }

// match is the SQL condition that a text expression equals one of the
// forms.
func (p formParams) match(expr string) string {
	cond := fmt.Sprintf("lower(%s) = ANY(%s::text[])", expr, p.lower)
	if p.digits != "" {
		cond += fmt.Sprintf(" OR regexp_replace(%s, '\\D', '', 'g') = ANY(%s::text[])", expr, p.digits)
	}
	return "(" + cond + ")"
}

// columnMatch is the condition that a column holds one of the forms: a
// text column's value, any string inside a json or jsonb document, any
// element of a text array.
func columnMatch(c tenantdb.Column, p formParams) string {
	col := pgx.Identifier{c.Name}.Sanitize()
	switch {
	case c.Type == "json" || c.Type == "jsonb":
		return fmt.Sprintf("EXISTS (SELECT 1 FROM jsonb_path_query(%s::jsonb, 'strict $.**') AS lethe_v(x) WHERE jsonb_typeof(x) = 'string' AND %s)",
			col, p.match("(x #>> '{}')"))
	case c.Category == 'A':
		return fmt.Sprintf("EXISTS (SELECT 1 FROM unnest(%s) AS lethe_v(x) WHERE %s)", col, p.match("x::text"))
	}
	return p.match(col + "::text")
}

// scan counts, per entity and column of every inventory table, the rows
// holding any of the identifier values: counts only (see scanSets).
func scan(ctx context.Context, q tenantdb.BatchQuerier, spec *privacyv1alpha1.DataInventorySpec, tables map[string]*tenantdb.Table,
	identifiers map[string]string) (map[string][]privacyv1alpha1.ColumnCount, error) {
	var list []*tenantdb.Table
	seen := map[string]bool{}
	for _, e := range spec.Entities {
		name := tenantdb.CanonicalTableName(e.Table)
		if t, ok := tables[name]; ok && !seen[name] {
			seen[name] = true
			list = append(list, t)
		}
	}
	counts, err := scanSets(ctx, q, list, []map[string]string{identifiers})
	if err != nil {
		return nil, err
	}
	out := map[string][]privacyv1alpha1.ColumnCount{}
	for _, e := range spec.Entities {
		if c := counts[0][tenantdb.CanonicalTableName(e.Table)]; len(c) > 0 {
			out[e.Name] = c
		}
	}
	return out, nil
}

// scanSets counts, for each set of identifiers, per table and column that
// can hold one (text, json, jsonb, text arrays), the rows holding any of
// the set's values in any of their forms: one pass per table for all the
// sets, every table's statement sent in one round trip. Each statement
// keeps in its WHERE clause only the rows holding a value in some column,
// so a row without one costs one comparison per column and nothing more;
// the counting happens for those rows alone. Counts are keyed by the
// table's canonical name.
func scanSets(ctx context.Context, q tenantdb.BatchQuerier, tables []*tenantdb.Table, sets []map[string]string) ([]map[string][]privacyv1alpha1.ColumnCount, error) {
	out := make([]map[string][]privacyv1alpha1.ColumnCount, len(sets))
	setForms := make([]forms, len(sets))
	var all []string
	for i, set := range sets {
		out[i] = map[string][]privacyv1alpha1.ColumnCount{}
		values := slices.Sorted(maps.Values(set))
		setForms[i] = formsOf(values)
		all = append(all, values...)
	}
	if len(all) == 0 {
		return out, nil
	}
	allForms := formsOf(slices.Compact(slices.Sorted(slices.Values(all))))
	b := &pgx.Batch{}
	for _, t := range tables {
		var cols []tenantdb.Column
		for _, c := range t.Columns {
			if c.Category == 'S' || c.Category == 'A' || c.Type == "json" || c.Type == "jsonb" {
				cols = append(cols, c)
			}
		}
		if len(cols) == 0 {
			continue
		}
		args := &masking.Args{}
		allParams := allForms.params(args)
		setParams := make([]formParams, len(setForms))
		for i, f := range setForms {
			setParams[i] = f.params(args)
		}
		conds := make([]string, 0, len(cols))
		exprs := make([]string, 0, len(cols)*len(sets))
		for _, c := range cols {
			conds = append(conds, columnMatch(c, allParams))
			for _, p := range setParams {
				exprs = append(exprs, "count(*) FILTER (WHERE "+columnMatch(c, p)+")")
			}
		}
		name := tenantdb.TableName{Schema: t.Schema, Name: t.Name}
		sql := fmt.Sprintf("SELECT %s FROM %s WHERE %s", strings.Join(exprs, ", "), name.Sanitize(), strings.Join(conds, " OR ")) // #nosec G201 -- identifiers sanitized
		b.Queue(sql, args.Values()...).QueryRow(func(row pgx.Row) error {
			counts := make([]int64, len(exprs))
			dest := make([]any, len(exprs))
			for i := range counts {
				dest[i] = &counts[i]
			}
			if err := row.Scan(dest...); err != nil {
				return fmt.Errorf("scan %s: %w", name, err)
			}
			for i, c := range cols {
				for j := range sets {
					if n := counts[i*len(sets)+j]; n > 0 {
						out[j][name.String()] = append(out[j][name.String()], privacyv1alpha1.ColumnCount{Column: c.Name, Rows: n})
					}
				}
			}
			return nil
		})
	}
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// Verify looks for the subject's identifiers, in any case and a phone
// number in any spacing, in every column that can hold one (text, json,
// jsonb, text arrays) of every inventory table and of every table that
// holds a foreign key into one (mapped or not), and in the rows retention
// archived, and lists where one remains: `schema.table.column`, or
// `lethe.retention_archives rule <rule> run <run id>` for an archive
// (ArchiveName). The columns are read from the
// live catalog first, so a column added since the inventory was last
// checked is searched too.
func Verify(ctx context.Context, q tenantdb.BatchQuerier, spec *privacyv1alpha1.DataInventorySpec, identifiers map[string]string) ([]string, error) {
	remaining, err := verifySets(ctx, q, spec, []map[string]string{identifiers})
	if err != nil {
		return nil, err
	}
	return remaining[0], nil
}

// ArchivesTable names the archived rows in what Verify lists.
const ArchivesTable = "lethe.retention_archives"

// verifySets is Verify for several subjects in one pass over the tables.
func verifySets(ctx context.Context, q tenantdb.BatchQuerier, spec *privacyv1alpha1.DataInventorySpec, sets []map[string]string) ([][]string, error) {
	tables, err := tenantdb.ReadTextColumns(ctx, q, inventoryTables(spec), true)
	if err != nil {
		return nil, err
	}
	list := make([]*tenantdb.Table, 0, len(tables))
	for _, name := range slices.Sorted(maps.Keys(tables)) {
		list = append(list, tables[name])
	}
	counts, err := scanSets(ctx, q, list, sets)
	if err != nil {
		return nil, err
	}
	archived, err := scanArchives(ctx, q, sets)
	if err != nil {
		return nil, err
	}
	out := make([][]string, len(sets))
	for i := range sets {
		for table, cols := range counts[i] {
			for _, c := range cols {
				out[i] = append(out[i], table+"."+c.Column)
			}
		}
		out[i] = append(out[i], archived[i]...)
		sort.Strings(out[i])
	}
	return out, nil
}

// scanArchives lists, for each set, the retention archives whose CSV
// still holds one of its values, in any case: ArchiveName of each, in
// order of run and rule.
func scanArchives(ctx context.Context, q tenantdb.BatchQuerier, sets []map[string]string) ([][]string, error) {
	out := make([][]string, len(sets))
	args := &masking.Args{}
	exprs := make([]string, len(sets))
	for i, set := range sets {
		exprs[i] = fmt.Sprintf("COALESCE(bool_or(EXISTS (SELECT 1 FROM unnest(%s::text[]) AS v(x) WHERE strpos(lower(csv), x) > 0)), false)",
			args.Add(formsOf(slices.Sorted(maps.Values(set))).lower))
	}
	b := &pgx.Batch{}
	b.Queue("SELECT run_id, rule, "+strings.Join(exprs, ", ")+" FROM lethe.retention_archives GROUP BY run_id, rule ORDER BY run_id, rule", args.Values()...).Query(func(rows pgx.Rows) error { // #nosec G202 -- parameters only
		for rows.Next() {
			var run, rule string
			found := make([]bool, len(sets))
			dest := []any{&run, &rule}
			for i := range found {
				dest = append(dest, &found[i])
			}
			if err := rows.Scan(dest...); err != nil {
				return fmt.Errorf("scan %s: %w", ArchivesTable, err)
			}
			for i, f := range found {
				if f {
					out[i] = append(out[i], ArchiveName(run, rule))
				}
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("scan %s: %w", ArchivesTable, err)
		}
		return nil
	})
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// ArchiveName names one archive where verification lists what remains:
// `lethe.retention_archives rule <rule> run <run id>`.
func ArchiveName(run, rule string) string {
	return fmt.Sprintf("%s rule %s run %s", ArchivesTable, rule, run)
}

func inventoryTables(spec *privacyv1alpha1.DataInventorySpec) []string {
	names := make([]string, len(spec.Entities))
	for i, e := range spec.Entities {
		names[i] = e.Table
	}
	return names
}
