package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/jackc/pgx/v5"
)

// Dump takes a backup of database db with pg_dump, in its custom format,
// into a file of dir, and returns the file's path.
func (s *Server) Dump(ctx context.Context, db, dir string) (string, error) {
	f, err := os.CreateTemp(dir, db+"-*.dump")
	if err != nil {
		return "", err
	}
	path := f.Name()
	if err := f.Close(); err != nil {
		return "", err
	}
	cmd := s.client(ctx, "pg_dump", "-Fc", "-f", path, db)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("pg_dump %s: %v: %s", db, err, out)
	}
	return path, nil
}

// Restore replaces database db with the backup Dump took, as a restore
// from a backup would, owners and all: the backup is restored with
// pg_restore into a new database owned by AppUser, then db is dropped, its
// connections ended, and the new database takes its name. A client that
// reconnects meanwhile finds no database, never a half-restored one.
func (s *Server) Restore(ctx context.Context, db, path string) error {
	fresh, err := s.CreateDatabase(ctx, "")
	if err != nil {
		return err
	}
	cmd := s.client(ctx, "pg_restore", "--exit-on-error", "-d", fresh.Name, path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_restore %s: %v: %s", db, err, out)
	}
	name := pgx.Identifier{db}.Sanitize()
	if err := s.Exec(ctx, "postgres", "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", db, err)
	}
	if err := s.Exec(ctx, "postgres", "ALTER DATABASE "+pgx.Identifier{fresh.Name}.Sanitize()+" RENAME TO "+name); err != nil {
		return fmt.Errorf("rename database %s to %s: %w", fresh.Name, db, err)
	}
	return nil
}

// client is a client program of the server's binaries (pg_dump,
// pg_restore), connecting as the superuser over the server's socket.
func (s *Server) client(ctx context.Context, program string, args ...string) *exec.Cmd {
	all := append([]string{"-h", s.SocketDir, "-p", fmt.Sprint(s.Port), "-U", "postgres"}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, program), all...) // #nosec G204 -- PostgreSQL binaries from a fixed directory
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}
