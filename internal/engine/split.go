package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"
)

// split cuts a table's keys into up to n parts of about as many rows each,
// by the distribution of the key's first column: its histogram in the
// planner's statistics, or else values read from the key's index at even
// offsets of the estimated row count. Part i holds the rows whose first key
// column is after bound i-1 (exclusive) and up to bound i (inclusive); the
// first and last are open. A table too small or unknown is one part.
func split(ctx context.Context, pool *pgxpool.Pool, t *Target, n int) ([][2]*string, error) {
	one := [][2]*string{{nil, nil}}
	if n <= 1 || t.Table == nil {
		return one, nil
	}
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
				return one, nil
			}
			bounds = append(bounds, v)
		}
	default:
		return one, nil
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
