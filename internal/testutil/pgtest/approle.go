package pgtest

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ApplicationRole creates a login role as an application connects with:
// not a superuser, without BYPASSRLS, owning nothing, allowed to read and
// write every table (and use every sequence) of the given schemas of db.
// Roles are the server's, so name must be unique on it. It returns a
// connection string for the role over the unix socket.
func (s *Server) ApplicationRole(ctx context.Context, db Database, name string, schemas ...string) (string, error) {
	role := pgx.Identifier{name}.Sanitize()
	if err := s.Exec(ctx, "postgres", "CREATE ROLE "+role+" LOGIN NOSUPERUSER NOBYPASSRLS"); err != nil {
		return "", fmt.Errorf("create role %s: %w", name, err)
	}
	for _, schema := range schemas {
		sch := pgx.Identifier{schema}.Sanitize()
		if err := s.Exec(ctx, db.Name, "GRANT USAGE ON SCHEMA "+sch+" TO "+role+
			"; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "+sch+" TO "+role+
			"; GRANT USAGE ON ALL SEQUENCES IN SCHEMA "+sch+" TO "+role); err != nil {
			return "", fmt.Errorf("grant %s on schema %s: %w", name, schema, err)
		}
	}
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", s.SocketDir, s.Port, name, db.Name), nil
}
