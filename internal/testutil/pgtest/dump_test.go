package pgtest

import (
	"context"
	"testing"
)

// A restore brings back the rows and their owner as the dump held them:
// a row written after the dump is gone.
func TestRestoreBringsBackTheDatabaseAsDumped(t *testing.T) {
	ctx := context.Background()
	db := NewDatabase(t)
	exec := func(sql string) {
		t.Helper()
		conn, err := Shared().AppConn(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close(ctx) }()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")
	path, err := Shared().Dump(ctx, db.Name, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	exec("INSERT INTO kept VALUES (2)")
	if err := Shared().Restore(ctx, db.Name, path); err != nil {
		t.Fatal(err)
	}
	conn, err := Shared().AppConn(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var n int64
	var owner string
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM kept), (SELECT tableowner FROM pg_catalog.pg_tables WHERE tablename = 'kept')").
		Scan(&n, &owner); err != nil {
		t.Fatal(err)
	}
	if n != 1 || owner != AppUser {
		t.Fatalf("after the restore: %d rows, owner %s; want 1 row, owner %s", n, owner, AppUser)
	}
	// The app user can write, as the owner of what was restored.
	exec("INSERT INTO kept VALUES (3)")
}
