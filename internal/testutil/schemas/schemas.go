// Package schemas gives tests tenant databases holding schemas nobody on the
// Lethe team wrote (the public sample databases Chinook and Northwind, kept
// unchanged in the shared schemas folder beside the project), and one
// written for the tests, Edge, that holds the shapes those lack: a table
// partitioned by month with a composite key, a table with no primary key but
// a unique index, a multi-column foreign key, a foreign key to a unique key,
// a self-reference, a two-table cycle, tables the inventory leaves out
// that refer to a subject with NO ACTION and with CASCADE, and a table whose
// quoted name and columns hold capitals, spaces and a non-ASCII letter.
//
// Each schema comes with a hand-written DataInventory (testdata/NAME.yaml).
// The public schemas are read from $LETHE_SCHEMAS_DIR, or else from
// ../shared/schemas relative to the project's root; where neither exists,
// tests that need them skip, saying so.
package schemas

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/testdb"
)

// The schemas.
const (
	Chinook   = "chinook"
	Northwind = "northwind"
	Edge      = "edge"
)

// Public are the public sample schemas, loaded unchanged.
var Public = []string{Chinook, Northwind}

// All are every schema this package loads.
var All = []string{Chinook, Northwind, Edge}

// ErrMissing says the shared schemas folder is not there.
var ErrMissing = errors.New("the public sample schemas are not here: set LETHE_SCHEMAS_DIR or put them in ../shared/schemas beside the project")

func root() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "..")
}

// Dir is the folder that holds the public schemas' SQL files.
func Dir() (string, error) {
	if d := os.Getenv("LETHE_SCHEMAS_DIR"); d != "" {
		return d, nil
	}
	d := filepath.Join(root(), "..", "shared", "schemas")
	if _, err := os.Stat(filepath.Join(d, Chinook+".sql")); err != nil {
		return "", ErrMissing
	}
	return d, nil
}

// psqlOnly are the lines of a dump that only psql understands, and the
// statements that make and switch databases: the schema is loaded into the
// database it is given.
var psqlOnly = regexp.MustCompile(`(?m)^\s*(\\.*|(DROP|CREATE) DATABASE [^;]*;)\s*$`)

// SQL returns a public schema's script, ready to run in any database.
func SQL(name string) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	raw, err := os.ReadFile(filepath.Join(dir, name+".sql")) // #nosec G304 -- a test fixture chosen by name
	if err != nil {
		return "", err
	}
	return psqlOnly.ReplaceAllString(string(raw), ""), nil
}

// Options size the Edge schema; the public schemas have their own data.
type Options struct {
	// Members is the number of Edge members (default 60).
	Members int
	// PaymentsPerAccount is the number of payments per Edge account, spread
	// over 24 months (default 12).
	PaymentsPerAccount int
}

// Load creates a schema and its data in the database conn is connected
// to.
func Load(ctx context.Context, conn *pgx.Conn, name string, opts Options) error {
	var script string
	switch name {
	case Edge:
		script = EdgeSQL(opts)
	case Chinook, Northwind:
		s, err := SQL(name)
		if err != nil {
			return err
		}
		script = s
	default:
		return fmt.Errorf("unknown schema %q", name)
	}
	if _, err := conn.PgConn().Exec(ctx, script).ReadAll(); err != nil {
		return fmt.Errorf("load schema %s: %w", name, err)
	}
	_, err := conn.Exec(ctx, "ANALYZE")
	return err
}

// Skip skips the test when the public schemas are not here and name is one
// of them.
func Skip(t testing.TB, name string) {
	t.Helper()
	if name == Edge {
		return
	}
	if _, err := Dir(); err != nil {
		t.Skipf("schema %s: %v", name, err)
	}
}

// Open creates a database on the shared test server (pgtest.Main), loads the
// schema into it, migrates the lethe schema, and returns a pool of 4
// connections on it (closed when the test ends), the database, and the
// schema's hand-written inventory. It skips the test when a public schema
// is not here.
func Open(t testing.TB, name string, opts Options) (*pgxpool.Pool, pgtest.Database, *privacyv1alpha1.DataInventorySpec) {
	t.Helper()
	Skip(t, name)
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	conn, err := pgtest.Shared().AppConn(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	err = Load(ctx, conn, name, opts)
	_ = conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pool := testdb.Migrated(t, db, 4)
	inv, err := Inventory(name)
	if err != nil {
		t.Fatal(err)
	}
	return pool, db, inv
}

// InventoryPath is the file of a schema's hand-written DataInventory.
func InventoryPath(name string) string {
	return filepath.Join(root(), "internal", "testutil", "schemas", "testdata", name+".yaml")
}

// Inventory reads a schema's hand-written DataInventory spec.
func Inventory(name string) (*privacyv1alpha1.DataInventorySpec, error) {
	inv, err := InventoryObject(name)
	if err != nil {
		return nil, err
	}
	return &inv.Spec, nil
}

// InventoryObject reads a schema's hand-written DataInventory.
func InventoryObject(name string) (*privacyv1alpha1.DataInventory, error) {
	raw, err := os.ReadFile(InventoryPath(name)) // #nosec G304 -- the package's own fixture
	if err != nil {
		return nil, err
	}
	var inv privacyv1alpha1.DataInventory
	if err := yaml.UnmarshalStrict(raw, &inv); err != nil {
		return nil, fmt.Errorf("%s: %w", InventoryPath(name), err)
	}
	return &inv, nil
}
