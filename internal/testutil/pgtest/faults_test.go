package pgtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A restart breaks open connections, comes back on the same port with the
// committed data, and a frozen server answers nothing until thawed.
func TestFaults(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	ctx := context.Background()
	if err := s.Exec(ctx, "postgres", "CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, s.AdminDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	port := s.Port

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.Port != port {
		t.Errorf("port %d after the restart, %d before", s.Port, port)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a connection opened before the immediate restart still works")
	}
	var n int
	if err := s.exec1(ctx, "SELECT count(*) FROM kept", &n); err != nil || n != 1 {
		t.Fatalf("after the restart: %d rows, %v; want the committed row", n, err)
	}

	if err := s.Freeze(); err != nil {
		t.Fatal(err)
	}
	qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = s.exec1(qctx, "SELECT 1", &n)
	cancel()
	if thawErr := s.Thaw(); thawErr != nil {
		t.Fatal(thawErr)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a frozen server answered: %v", err)
	}
	if err := s.exec1(ctx, "SELECT 1", &n); err != nil {
		t.Errorf("after Thaw: %v", err)
	}
}

func (s *Server) exec1(ctx context.Context, sql string, dst any) error {
	conn, err := pgx.Connect(ctx, s.AdminDSN("postgres"))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	return conn.QueryRow(ctx, sql).Scan(dst)
}
