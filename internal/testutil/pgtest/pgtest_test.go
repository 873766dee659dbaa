package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestAppUserNeedsItsPassword(t *testing.T) {
	ctx := context.Background()
	db := NewDatabase(t)
	conn, err := Shared().AppConn(ctx, db)
	if err != nil {
		t.Fatalf("app user cannot connect: %v", err)
	}
	var owner string
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname = current_database()").Scan(&owner); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	if owner != AppUser {
		t.Errorf("database owner = %q, want %q", owner, AppUser)
	}
	db.Password = "wrong"
	if c, err := pgx.Connect(ctx, db.URI()); err == nil {
		_ = c.Close(ctx)
		t.Fatal("a wrong password was accepted")
	}
}

func TestCopyDatabaseHoldsTheTemplatesRowsOwnedByTheAppUser(t *testing.T) {
	ctx := context.Background()
	tmpl := NewDatabase(t)
	conn, err := Shared().AppConn(ctx, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 3)")
	_ = conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := Shared().CopyDatabase(ctx, tmpl.Name)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Name == tmpl.Name {
		t.Fatal("the copy has the template's name")
	}
	conn, err = Shared().AppConn(ctx, cp)
	if err != nil {
		t.Fatalf("app user cannot connect to the copy: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var n int
	if _, err := conn.Exec(ctx, "INSERT INTO t VALUES (4)"); err != nil {
		t.Fatalf("the app user cannot write the copy's table: %v", err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("the copy holds %d rows; want the template's 3 and one more", n)
	}
}
