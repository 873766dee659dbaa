package pgtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

var shared *Server

// Main starts one server for a test binary, runs the tests and stops it. Use
// it from TestMain: `func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }`.
func Main(m *testing.M) int {
	srv, err := Start(Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	shared = srv
	code := m.Run()
	if err := srv.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: stop:", err)
	}
	return code
}

// Shared returns the server Main started.
func Shared() *Server {
	if shared == nil {
		panic("pgtest: no server: call pgtest.Main from TestMain")
	}
	return shared
}

// NewDatabase creates a fresh database on the shared server for one test.
func NewDatabase(t testing.TB) Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := Shared().CreateDatabase(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	return db
}
