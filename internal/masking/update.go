package masking

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// maxKeyColumns bounds a primary key, as the inventory does.
const maxKeyColumns = 4

// UpdateSQL builds one UPDATE that masks the given columns of the rows of
// table (schema.table) whose primary key (pkCols, in order) is in a key set:
//
//	UPDATE "s"."t" AS lethe_row SET "c1" = <e1>, "c2" = <e2>
//	WHERE lethe_row."id" = ANY($k)
//
// The returned Args hold the strategies' parameters, $1 to $k-1. The key set
// comes last, one array per primary-key column in pkCols order, each holding
// the key values of the rows to mask; the i-th elements of the arrays
// together name one row. An array may be typed ([]int64 for a bigint key) or
// text ([]string, parsed by PostgreSQL as the key's type):
//
//	sql, args, err := masking.UpdateSQL("app.customers", cols, []string{"id"}, keys)
//	tag, err := tx.Exec(ctx, sql, args.With(ids)...)
//
// so the statement touches exactly the rows given, and tag.RowsAffected() is
// how many of them exist. A composite key is matched as a set of tuples:
// `WHERE a = ANY($k) AND b = ANY($k+1) AND (a, b) IN (SELECT * FROM
// unnest($k, $k+1))`.
//
// On a unique column, Pseudonym and Fake write the value itself when no other
// row holds it and the key set has one row, and otherwise insert "_" and the
// row's primary key (its columns joined by "_"): before the domain of an
// e-mail, at the end of anything else. So a subject's single row keeps the
// pseudonym it has in every other tenant, and the constraint always holds.
//
// It refuses an empty column list, a column listed twice, a primary-key
// column (masking it would break references) and every strategy Check
// refuses, naming the column.
func UpdateSQL(table string, cols []Assignment, pkCols []string, keys Keys) (string, *Args, error) {
	target, pk, err := checkUpdate(table, cols, pkCols)
	if err != nil {
		return "", nil, err
	}
	row := &rowContext{table: target, pk: pk}
	build := func(firstKey int) ([]string, *Args, error) {
		row.several = fmt.Sprintf("cardinality($%d) > 1", firstKey)
		if keys.Identifier != "" {
			row.several = "false"
		}
		args := &Args{}
		cp := compiler{args: args, keys: keys, row: row}
		sets := make([]string, len(cols))
		for i, a := range cols {
			e, err := cp.compile(a.Strategy, a.Column, a.HashKey)
			if err != nil {
				return nil, nil, fmt.Errorf("table %s: %w", table, err)
			}
			sets[i] = pgx.Identifier{a.Column.Name}.Sanitize() + " = " + e
		}
		return sets, args, nil
	}
	// The key arrays come after the strategies' parameters, but the SET
	// expressions may refer to them: count the parameters first.
	_, dry, err := build(0)
	if err != nil {
		return "", nil, err
	}
	firstKey := dry.Len() + 1
	sets, args, err := build(firstKey)
	if err != nil {
		return "", nil, err
	}
	if args.Len() != dry.Len() {
		return "", nil, errors.New("masking: parameters changed between passes")
	}
	sql := "UPDATE " + target + " AS " + rowAlias + " SET " + strings.Join(sets, ", ") + " WHERE " + keyMatch(pk, firstKey) // #nosec G202 -- identifiers sanitized, values are parameters
	return sql, args, nil
}

// UpdateSetSQL builds the head of an UPDATE that masks cols in rows the
// caller selects: `UPDATE "s"."t" AS lethe_row SET "c1" = <e1>, ...`, to
// which the caller appends its own WHERE (reading the row as lethe_row).
// Parameters are added to args, so the WHERE can add its own after them.
// Unique columns are kept unique as if the statement updated several rows.
// It refuses what UpdateSQL refuses.
func UpdateSetSQL(table string, cols []Assignment, pkCols []string, keys Keys, args *Args) (string, error) {
	return SetSQL(table, cols, pkCols, keys, args, "true")
}

// SetSQL is UpdateSetSQL for a statement that knows whether it changes
// several rows: several is an SQL boolean, true when it does (a unique
// column's rows then each get the row discriminator), so a statement that
// changes one row writes the value itself when no other row holds it.
// Keyed pseudonyms (keys.Identifier) ignore it: they are the same for the
// same identifier whatever the statement.
func SetSQL(table string, cols []Assignment, pkCols []string, keys Keys, args *Args, several string) (string, error) {
	target, pk, err := checkUpdate(table, cols, pkCols)
	if err != nil {
		return "", err
	}
	if keys.Identifier != "" {
		several = "false"
	}
	cp := compiler{args: args, keys: keys, row: &rowContext{table: target, pk: pk, several: several}}
	sets := make([]string, len(cols))
	for i, a := range cols {
		e, err := cp.compile(a.Strategy, a.Column, a.HashKey)
		if err != nil {
			return "", fmt.Errorf("table %s: %w", table, err)
		}
		sets[i] = pgx.Identifier{a.Column.Name}.Sanitize() + " = " + e
	}
	return "UPDATE " + target + " AS " + rowAlias + " SET " + strings.Join(sets, ", "), nil
}

// checkUpdate sanitizes the table and key and refuses an empty column list,
// a column listed twice and a primary-key column.
func checkUpdate(table string, cols []Assignment, pkCols []string) (string, []string, error) {
	target, pk, err := targetOf(table, pkCols)
	if err != nil {
		return "", nil, err
	}
	if len(cols) == 0 {
		return "", nil, fmt.Errorf("table %s: no columns to mask", table)
	}
	key, seen := map[string]bool{}, map[string]bool{}
	for _, k := range pkCols {
		key[k] = true
	}
	for _, a := range cols {
		switch {
		case key[a.Column.Name]:
			return "", nil, fmt.Errorf("table %s: column %s is part of the primary key, which is never masked (other rows refer to it)",
				table, a.Column.Name)
		case seen[a.Column.Name]:
			return "", nil, fmt.Errorf("table %s: column %s is listed twice", table, a.Column.Name)
		}
		seen[a.Column.Name] = true
	}
	return target, pk, nil
}

// DeleteSQL builds the DELETE of the rows of table (schema.table) whose
// primary key is in a key set, passed as UpdateSQL's is but alone: one array
// per primary-key column, $1 onwards.
//
//	sql, err := masking.DeleteSQL("app.case_comments", []string{"id"})
//	tag, err := tx.Exec(ctx, sql, ids)
func DeleteSQL(table string, pkCols []string) (string, error) {
	target, pk, err := targetOf(table, pkCols)
	if err != nil {
		return "", err
	}
	return "DELETE FROM " + target + " AS " + rowAlias + " WHERE " + keyMatch(pk, 1), nil // #nosec G202 -- identifiers sanitized, keys are parameters
}

// targetOf sanitizes a schema.table name (each part plain or double-quoted,
// as tenantdb.ParseTableName reads it) and its primary-key columns.
func targetOf(table string, pkCols []string) (string, []string, error) {
	name, err := tenantdb.ParseTableName(table)
	if err != nil {
		return "", nil, err
	}
	if len(pkCols) == 0 || len(pkCols) > maxKeyColumns {
		return "", nil, fmt.Errorf("table %s: a primary key has 1 to %d columns, not %d", table, maxKeyColumns, len(pkCols))
	}
	pk := make([]string, len(pkCols))
	for i, k := range pkCols {
		if k == "" {
			return "", nil, fmt.Errorf("table %s: empty primary-key column name", table)
		}
		pk[i] = pgx.Identifier{k}.Sanitize()
	}
	return name.Sanitize(), pk, nil
}

// keyMatch is the WHERE condition that selects the rows whose key is in the
// arrays $first... Each column's `= ANY` comes first: PostgreSQL takes the
// arrays' types from it, and a single-column key needs nothing else.
func keyMatch(pk []string, first int) string {
	conds := make([]string, len(pk))
	cols, params := make([]string, len(pk)), make([]string, len(pk))
	for i, k := range pk {
		cols[i] = rowAlias + "." + k
		params[i] = fmt.Sprintf("$%d", first+i)
		conds[i] = cols[i] + " = ANY(" + params[i] + ")"
	}
	if len(pk) > 1 {
		conds = append(conds, fmt.Sprintf("(%s) IN (SELECT * FROM unnest(%s))", strings.Join(cols, ", "), strings.Join(params, ", ")))
	}
	return strings.Join(conds, " AND ")
}
