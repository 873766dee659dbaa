package tenantdb

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

// Schema is the operator's own schema in every tenant database.
const Schema = "lethe"

// versionTable records which migrations were applied.
const versionTable = Schema + ".schema_migrations"

// schemaLockKey serialises operators creating the schema at the same time.
const schemaLockKey int64 = 0x6c65746865 // "lethe"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the embedded migration set.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// LatestSchemaVersion is the version the embedded migrations lead to.
func LatestSchemaVersion() (int64, error) {
	names, err := fs.Glob(Migrations(), "*.sql")
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, n := range names {
		v, err := goose.NumericComponent(n)
		if err != nil {
			return 0, err
		}
		latest = max(latest, v)
	}
	if latest == 0 {
		return 0, errors.New("no migrations embedded")
	}
	return latest, nil
}

// Migrate creates the lethe schema when missing and applies the embedded
// migrations with goose, under an advisory lock. It returns the schema
// version and how many migrations it applied now.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (version int64, applied int, err error) {
	return MigrateTo(ctx, pool, 0)
}

// MigrateTo is Migrate up to a given version (0: the latest), for tests that
// prove a database written by an earlier version carries on under this one.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, target int64) (version int64, applied int, err error) {
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_catalog.pg_advisory_xact_lock($1)", schemaLockKey); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{Schema}.Sanitize())
		return err
	}); err != nil {
		return 0, 0, fmt.Errorf("create schema %s: %w", Schema, err)
	}
	store, err := database.NewStore(database.DialectPostgres, versionTable)
	if err != nil {
		return 0, 0, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return 0, 0, err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer func() { _ = db.Close() }()
	provider, err := goose.NewProvider("", db, Migrations(),
		goose.WithStore(store), goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, 0, err
	}
	var results []*goose.MigrationResult
	if target > 0 {
		results, err = provider.UpTo(ctx, target)
	} else {
		results, err = provider.Up(ctx)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("migrate schema %s: %w", Schema, err)
	}
	version, err = provider.GetDBVersion(ctx)
	return version, len(results), err
}
