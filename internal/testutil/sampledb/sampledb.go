// Package sampledb gives tests a tenant database holding the sample
// application, with the lethe schema migrated, and the sample DataInventory
// of config/samples that maps it.
package sampledb

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
	"github.com/lethe-dev/lethe/internal/testutil/testdb"
)

// Open creates a database on the shared test server (pgtest.Main), loads
// the sample application into it, migrates the lethe schema, and returns a
// pool of 4 connections on it, closed when the test ends, and the sample
// inventory.
func Open(t testing.TB, opts sampleapp.Options) (*pgxpool.Pool, *privacyv1alpha1.DataInventorySpec) {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	conn, err := pgtest.Shared().AppConn(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	err = sampleapp.Load(ctx, conn, opts)
	_ = conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return testdb.Migrated(t, db, 4), Inventory(t)
}

// Inventory reads the sample DataInventory's spec.
func Inventory(t testing.TB) *privacyv1alpha1.DataInventorySpec {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "..", "config", "samples", "privacy_v1alpha1_datainventory.yaml")) // #nosec G304 -- the repository's sample
	if err != nil {
		t.Fatal(err)
	}
	var inv privacyv1alpha1.DataInventory
	if err := yaml.Unmarshal(raw, &inv); err != nil {
		t.Fatal(err)
	}
	return &inv.Spec
}
