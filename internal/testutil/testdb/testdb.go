// Package testdb opens the operator's pool on a test database as the
// manager does: from the connection Secret's data, through the pool cache,
// with the lethe schema migrated where asked.
package testdb

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

// Pool opens a pool of conns connections on db as the operator's login
// role, closed when the test ends. The lethe schema is left as it is.
func Pool(t testing.TB, db pgtest.Database, conns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := tenantdb.ParseSecret(db.SecretData(), conns)
	if err != nil {
		t.Fatal(err)
	}
	pools := tenantdb.NewPools()
	t.Cleanup(pools.CloseAll)
	pool, err := pools.Get(context.Background(), db.Name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// Migrated is Pool with the lethe schema created and migrated.
func Migrated(t testing.TB, db pgtest.Database, conns int32) *pgxpool.Pool {
	t.Helper()
	pool := Pool(t, db, conns)
	if _, _, err := tenantdb.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	return pool
}

// New creates a fresh database on the shared test server (pgtest.Main) and
// returns a migrated pool on it and the database.
func New(t testing.TB, conns int32) (*pgxpool.Pool, pgtest.Database) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	return Migrated(t, db, conns), db
}
