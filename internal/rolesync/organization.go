package rolesync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// OrganizationError says the inventory's organization does not fit the
// tenant's schema. Its message names tables and columns, never values.
type OrganizationError struct{ Problems []string }

func (e *OrganizationError) Error() string { return strings.Join(e.Problems, "; ") }

// definition renders an organization canonically: equal definitions build
// equal views.
func definition(org *privacyv1alpha1.Organization) string {
	if org == nil {
		return ""
	}
	u := org.Users
	s := fmt.Sprintf("users %s id=%s team=%s active=%s", u.Table, u.IDColumn, u.TeamColumn, u.ActiveColumn)
	if g := org.Groups; g != nil {
		s += fmt.Sprintf("; groups %s user=%s group=%s", g.Table, g.UserColumn, g.GroupColumn)
	}
	return s
}

// EnsureOrganization maps the tenant's users, teams and groups into the
// views lethe.org_users and lethe.org_groups, when the organization differs
// from the one they were built from. Every table and column is checked
// against the live catalog before it reaches SQL. The change and its audit
// record are one transaction. A nil organization restores empty views.
func EnsureOrganization(ctx context.Context, db Beginner, org *privacyv1alpha1.Organization, object audit.Object, actor string) (changed bool, err error) {
	want := definition(org)
	err = inTx(ctx, db, func(tx pgx.Tx) error {
		var have string
		err := tx.QueryRow(ctx, "SELECT definition FROM lethe.organization").Scan(&have)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read lethe.organization: %w", err)
		}
		if have == want {
			return nil
		}
		usersView, groupsView, err := organizationViews(ctx, tx, org)
		if err != nil {
			return err
		}
		for _, sql := range []string{usersView, groupsView} {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("replace organization view: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO lethe.organization (definition) VALUES ($1)
			ON CONFLICT (singleton) DO UPDATE SET definition = EXCLUDED.definition`, want); err != nil {
			return fmt.Errorf("write lethe.organization: %w", err)
		}
		if have == "" {
			have = absent
		}
		now := want
		if now == "" {
			now = absent
		}
		_, err = audit.Append(ctx, tx, audit.Record{
			Actor: actor, Object: object, Action: ActionOrganize, Rows: 2,
			Entity: "lethe.org_users, lethe.org_groups", Detail: fmt.Sprintf("%s -> %s", have, now),
		})
		changed = true
		return err
	})
	return changed && err == nil, err
}

// organizationViews checks the organization against the live catalog and
// builds the two view definitions.
func organizationViews(ctx context.Context, tx pgx.Tx, org *privacyv1alpha1.Organization) (users, groups string, err error) {
	users = `CREATE OR REPLACE VIEW lethe.org_users AS
		SELECT NULL::text AS user_id, NULL::text AS team, NULL::boolean AS active WHERE false`
	groups = `CREATE OR REPLACE VIEW lethe.org_groups AS
		SELECT NULL::text AS user_id, NULL::text AS group_name WHERE false`
	if org == nil {
		return users, groups, nil
	}
	var problems []string
	u := org.Users
	userCols, err := checkColumns(ctx, tx, u.Table, map[string]string{"idColumn": u.IDColumn, "teamColumn": u.TeamColumn, "activeColumn": u.ActiveColumn}, &problems)
	if err != nil {
		return "", "", err
	}
	if t, ok := userCols[u.ActiveColumn]; ok && u.ActiveColumn != "" && t != "boolean" {
		problems = append(problems, fmt.Sprintf("organization.users.activeColumn %s.%s is %s, not boolean", u.Table, u.ActiveColumn, t))
	}
	if g := org.Groups; g != nil {
		if _, err := checkColumns(ctx, tx, g.Table, map[string]string{"userColumn": g.UserColumn, "groupColumn": g.GroupColumn}, &problems); err != nil {
			return "", "", err
		}
	}
	if len(problems) > 0 {
		return "", "", &OrganizationError{Problems: problems}
	}

	col := func(alias, name, typ string) string {
		if name == "" {
			return "NULL::" + typ
		}
		return "(" + alias + "." + pgx.Identifier{name}.Sanitize() + ")::" + typ
	}
	users = "CREATE OR REPLACE VIEW lethe.org_users AS SELECT " +
		col("u", u.IDColumn, "text") + " AS user_id, " +
		col("u", u.TeamColumn, "text") + " AS team, " +
		col("u", u.ActiveColumn, "boolean") + " AS active FROM " + qualified(u.Table) + " AS u"
	if g := org.Groups; g != nil {
		groups = "CREATE OR REPLACE VIEW lethe.org_groups AS SELECT " +
			col("g", g.UserColumn, "text") + " AS user_id, " +
			col("g", g.GroupColumn, "text") + " AS group_name FROM " + qualified(g.Table) + " AS g"
	}
	return users, groups, nil
}

// qualified sanitizes a schema.table name checked against the live catalog
// (checkColumns): each part plain or double-quoted, as
// tenantdb.ParseTableName reads it.
func qualified(table string) string {
	name, _ := tenantdb.ParseTableName(table)
	return name.Sanitize()
}

// checkColumns reads the columns of a table (or view) and reports a missing
// table or a missing column, naming the field that names it. It returns the
// type of each column found.
func checkColumns(ctx context.Context, tx pgx.Tx, table string, fields map[string]string, problems *[]string) (map[string]string, error) {
	name, err := tenantdb.ParseTableName(table)
	if err != nil {
		*problems = append(*problems, "organization: "+err.Error())
		return map[string]string{}, nil
	}
	rows, err := tx.Query(ctx, `SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod)
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`, name.Schema, name.Name)
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	types, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([2]string, error) {
		var c [2]string
		return c, row.Scan(&c[0], &c[1])
	})
	if err != nil {
		return nil, fmt.Errorf("read the catalog: %w", err)
	}
	found := map[string]string{}
	for _, c := range types {
		found[c[0]] = c[1]
	}
	if len(found) == 0 {
		*problems = append(*problems, fmt.Sprintf("organization table %s does not exist", table))
		return found, nil
	}
	for _, field := range []string{"idColumn", "teamColumn", "activeColumn", "userColumn", "groupColumn"} {
		column, ok := fields[field]
		if !ok || column == "" {
			continue
		}
		if _, ok := found[column]; !ok {
			*problems = append(*problems, fmt.Sprintf("organization %s: column %s.%s does not exist", field, table, column))
		}
	}
	return found, nil
}
