package draft

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// sharing is what the draft knows of whether rows a foreign key refers to
// are shared by several referring rows.
type sharing int

const (
	// sharingUnique: the referring columns are a unique key, so no row is
	// shared.
	sharingUnique sharing = iota
	// sharingNone: the columns are not unique but no row is shared today.
	sharingNone
	// sharingSome: some rows are referred to by several rows today.
	sharingSome
	// sharingUnknown: not measured (no connection, or the query ran out
	// of its time).
	sharingUnknown
)

// measureSharing says whether the rows fk refers to are each referred to
// by one row only: from the catalog when the foreign-key columns are a
// unique key, otherwise by a query that returns one boolean, in a
// read-only transaction bounded by timeout.
func measureSharing(ctx context.Context, db classify.DB, cat *tenantdb.Catalog, fk tenantdb.ForeignKey, timeout time.Duration) sharing {
	t, ok := cat.Tables[fk.Table]
	if !ok {
		return sharingUnknown
	}
	if t.IsUniqueKey(fk.Columns) {
		return sharingUnique
	}
	if db == nil {
		return sharingUnknown
	}
	cols := make([]string, len(fk.Columns))
	notNull := make([]string, len(fk.Columns))
	for i, c := range fk.Columns {
		cols[i] = pgx.Identifier{c}.Sanitize()
		notNull[i] = cols[i] + " IS NOT NULL"
	}
	query := fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE %s GROUP BY %s HAVING pg_catalog.count(*) > 1)", // #nosec G201 -- identifiers sanitized
		t.Ident(), strings.Join(notNull, " AND "), strings.Join(cols, ", "))
	var shared bool
	err := pgx.BeginTxFunc(ctx, db, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", timeout.Milliseconds())); err != nil {
			return err
		}
		return tx.QueryRow(ctx, query).Scan(&shared)
	})
	switch {
	case err != nil:
		return sharingUnknown
	case shared:
		return sharingSome
	}
	return sharingNone
}
