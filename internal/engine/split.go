package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/masking"
)

// splitSample is about how many rows split reads to learn where a step's
// rows lie.
const splitSample = 30000

// split cuts a step's rows into up to n parts of about as many rows each,
// by the distribution of the key's first column over the rows the step
// matches (where, on Row, with its parameters in args): quantiles of a
// sample of them. A step's rows are often bunched in the key range (old
// rows of a table keyed by time come first), so cutting the whole table's
// keys would leave one worker with them all. Without enough matching rows
// in the sample, the table's keys are cut instead: by the first column's
// histogram in the planner's statistics, or else values read from the key's
// index at even offsets of the estimated row count. Part i holds the rows
// whose first key column is after bound i-1 (exclusive) and up to bound i
// (inclusive); the first and last are open. A table too small or unknown is
// one part.
func split(ctx context.Context, pool *pgxpool.Pool, t *Target, n int, where string, args *masking.Args) ([][2]*string, error) {
	one := [][2]*string{{nil, nil}}
	if n <= 1 || t.Table == nil {
		return one, nil
	}
	bounds, err := matchingBounds(ctx, pool, t, n, where, args)
	if err != nil {
		return nil, err
	}
	if bounds == nil {
		if bounds, err = tableBounds(ctx, pool, t, n); err != nil || bounds == nil {
			return one, err
		}
	}
	bounds = slices.Compact(bounds)
	out := make([][2]*string, len(bounds)+1)
	for i := range out {
		if i > 0 {
			out[i][0] = &bounds[i-1]
		}
		if i < len(bounds) {
			out[i][1] = &bounds[i]
		}
	}
	return out, nil
}

// matchingBounds are the n-quantiles (but the last) of the first key
// column over a sample of about splitSample of the table's rows that match
// the step, read page by page (TABLESAMPLE SYSTEM, the same pages every
// time); nil when fewer than 2n matching rows were read.
func matchingBounds(ctx context.Context, pool *pgxpool.Pool, t *Target, n int, where string, args *masking.Args) ([]string, error) {
	percent := 100.0
	if t.Table.Rows > splitSample {
		percent = 100 * float64(splitSample) / float64(t.Table.Rows)
	}
	fractions := make([]float64, n-1)
	for i := range fractions {
		fractions[i] = float64(i+1) / float64(n)
	}
	first := t.Key[0]
	a := args
	sql := fmt.Sprintf(`SELECT count(*), percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY %s.%s)::text[]
		FROM %s AS %s TABLESAMPLE SYSTEM (%s::float8) REPEATABLE (0) WHERE %s`, // #nosec G201 -- identifiers sanitized, values are parameters
		a.Add(fractions), Row, first.Ident, t.Ident, Row, a.Add(percent), where)
	var rows int64
	var bounds []string
	if err := pool.QueryRow(ctx, sql, a.Values()...).Scan(&rows, &bounds); err != nil {
		return nil, err
	}
	if rows < int64(2*n) {
		return nil, nil
	}
	return bounds, nil
}

// tableBounds cut the whole table's keys: by the histogram of the first
// key column, or values read at even offsets of the estimated row count;
// nil for a table too small or unknown.
func tableBounds(ctx context.Context, pool *pgxpool.Pool, t *Target, n int) ([]string, error) {
	first := t.Key[0]
	var hist []string
	err := pool.QueryRow(ctx, `SELECT histogram_bounds::text::text[] FROM pg_catalog.pg_stats
		WHERE schemaname = $1 AND tablename = $2 AND attname = $3 AND histogram_bounds IS NOT NULL
		ORDER BY inherited DESC LIMIT 1`, t.Table.Schema, t.Table.Name, first.Name).Scan(&hist)
	var bounds []string
	switch {
	case err == nil && len(hist) > n:
		for i := 1; i < n; i++ {
			bounds = append(bounds, hist[i*len(hist)/n])
		}
	case t.Table.Rows >= int64(n)*2:
		for i := 1; i < n; i++ {
			var v string
			if err := pool.QueryRow(ctx, fmt.Sprintf("SELECT %s::text FROM %s ORDER BY %s OFFSET $1 LIMIT 1", // #nosec G201 -- identifiers sanitized
				first.Ident, t.Ident, first.Ident), t.Table.Rows*int64(i)/int64(n)).Scan(&v); err != nil {
				return nil, nil
			}
			bounds = append(bounds, v)
		}
	}
	return bounds, nil
}
