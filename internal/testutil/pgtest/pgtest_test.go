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
