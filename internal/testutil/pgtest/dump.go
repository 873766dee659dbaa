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

// Restore replaces database db with the backup Dump took: the database is
// dropped, its connections ended, created again owned by AppUser, and the
// backup restored into it with pg_restore, owners and all, as a restore
// from a backup would.
func (s *Server) Restore(ctx context.Context, db, path string) error {
	name := pgx.Identifier{db}.Sanitize()
	if err := s.Exec(ctx, "postgres", "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", db, err)
	}
	if _, err := s.CreateDatabase(ctx, db); err != nil {
		return err
	}
	cmd := s.client(ctx, "pg_restore", "--exit-on-error", "-d", db, path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_restore %s: %v: %s", db, err, out)
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
