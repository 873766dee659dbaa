package rolesync

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// RowSecuritySchemaVersion is the version of the lethe schema that holds
// the functions the policies call (migration 00016_row_security.sql).
const RowSecuritySchemaVersion = 16

// Policy names on a scoped table: the data-scope policy every role is
// subject to, and the one that lets the exempt roles through.
const (
	policyScope  = "lethe_data_scope"
	policyExempt = "lethe_exempt"
)

// Audit actions of row-level security.
const (
	ActionEnforceScopes = "EnforceDataScopes"
	ActionRemoveScopes  = "RemoveDataScopes"
)

// RowSecurityRequest asks to bring a tenant's row-level security policies
// to what an inventory's organization and a TenantDatabase's rowSecurity
// say.
type RowSecurityRequest struct {
	Inventory *privacyv1alpha1.DataInventorySpec
	// Spec may be nil: no exempt role but the operator's, no FORCE.
	Spec   *privacyv1alpha1.RowSecuritySpec
	Object audit.Object
	Actor  string
}

// RowSecurityResult says which tables the policies hold and who bypasses
// them.
type RowSecurityResult struct {
	// Tables under Lethe's policies, canonical names, sorted.
	Tables []string
	// Changed are the tables whose policies were created, replaced or
	// removed.
	Changed []string
	// Bypassing are the login roles that bypass the policies, each with
	// why, sorted.
	Bypassing []string
}

// scopedTable is the policies one table needs.
type scopedTable struct {
	name       tenantdb.TableName
	predicate  string
	definition string
}

// EnsureRowSecurity creates, replaces or removes Lethe's row-level security
// policies so that every scoped entity of the inventory holds a policy that
// lets a session see and write only the rows of the owners its user's data
// scope allows, and tables no longer scoped hold none (row security is
// disabled again where Lethe enabled it). Tables whose policies are as
// wanted are left untouched. Each change and its audit record are one
// transaction. Every table, column and foreign key is checked against the
// live catalog first: a mismatch is an OrganizationError naming them.
func EnsureRowSecurity(ctx context.Context, db Beginner, cat *tenantdb.Catalog, req RowSecurityRequest) (res RowSecurityResult, err error) {
	spec := req.Spec
	if spec == nil {
		spec = &privacyv1alpha1.RowSecuritySpec{}
	}
	err = inTx(ctx, db, func(tx pgx.Tx) error {
		exempt, err := exemptRoles(ctx, tx, spec.ExemptRoles)
		if err != nil {
			return err
		}
		want, err := scopedTables(ctx, tx, cat, req.Inventory)
		if err != nil {
			return err
		}
		have, err := readRowSecurity(ctx, tx)
		if err != nil {
			return err
		}
		suffix := fmt.Sprintf("; exempt %s; force %t", strings.Join(exempt, ", "), spec.Force)
		for _, t := range want {
			key := t.name.String()
			res.Tables = append(res.Tables, key)
			def := t.definition + suffix
			if old, ok := have[key]; ok && old == def {
				continue
			}
			if err := applyPolicies(ctx, tx, t, exempt, spec.Force, def); err != nil {
				return err
			}
			if _, err := audit.Append(ctx, tx, audit.Record{
				Actor: req.Actor, Object: req.Object, Action: ActionEnforceScopes, Rows: 1, Entity: key, Detail: def,
			}); err != nil {
				return err
			}
			res.Changed = append(res.Changed, key)
		}
		for key := range have {
			if slices.Contains(res.Tables, key) {
				continue
			}
			if err := removePolicies(ctx, tx, cat, key); err != nil {
				return err
			}
			if _, err := audit.Append(ctx, tx, audit.Record{
				Actor: req.Actor, Object: req.Object, Action: ActionRemoveScopes, Rows: 1, Entity: key,
				Detail: "no longer a scoped entity",
			}); err != nil {
				return err
			}
			res.Changed = append(res.Changed, key)
		}
		sort.Strings(res.Tables)
		sort.Strings(res.Changed)
		res.Bypassing, err = bypassingRoles(ctx, tx, res.Tables, spec.Force)
		return err
	})
	return res, err
}

// exemptRoles checks that every exempt role exists and adds the operator's
// own role, which must see every row to erase, export and retain data.
func exemptRoles(ctx context.Context, tx pgx.Tx, names []string) ([]string, error) {
	var self string
	if err := tx.QueryRow(ctx, "SELECT current_user::text").Scan(&self); err != nil {
		return nil, fmt.Errorf("read the operator's role: %w", err)
	}
	var found []string
	rows, err := tx.Query(ctx, "SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname = ANY ($1)", names)
	if err != nil {
		return nil, fmt.Errorf("read pg_roles: %w", err)
	}
	if found, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, fmt.Errorf("read pg_roles: %w", err)
	}
	var problems []string
	for _, n := range names {
		if !slices.Contains(found, n) {
			problems = append(problems, fmt.Sprintf("rowSecurity.exemptRoles: role %s does not exist in the database", n))
		}
	}
	if len(problems) > 0 {
		return nil, &OrganizationError{Problems: problems}
	}
	out := append(slices.Clone(names), self)
	sort.Strings(out)
	return slices.Compact(out), nil
}

// scopedTables checks every scoped entity against the live catalog and
// builds its predicate.
func scopedTables(ctx context.Context, tx pgx.Tx, cat *tenantdb.Catalog, inv *privacyv1alpha1.DataInventorySpec) ([]scopedTable, error) {
	if inv == nil || inv.Organization == nil {
		return nil, nil
	}
	tables := map[string]string{}
	for _, e := range inv.Entities {
		tables[e.Name] = e.Table
	}
	var out []scopedTable
	var problems []string
	for _, s := range inv.Organization.ScopedEntities {
		field := fmt.Sprintf("organization.scopedEntities[%s]", s.Entity)
		table, ok := cat.Table(tables[s.Entity])
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: table %s of the entity does not exist", field, tables[s.Entity]))
			continue
		}
		t, problem, err := buildScopedTable(ctx, tx, cat, table, s)
		if err != nil {
			return nil, err
		}
		if problem != "" {
			problems = append(problems, field+": "+problem)
			continue
		}
		out = append(out, t)
	}
	if len(problems) > 0 {
		return nil, &OrganizationError{Problems: problems}
	}
	return out, nil
}

// buildScopedTable builds the predicate of one scoped entity, or says what
// does not fit the catalog. The predicate asks, once per statement each
// (uncorrelated subqueries, InitPlans), lethe.sees_all whether the user
// sees every row (a Company scope), and only if not lethe.visible_owners;
// per row it is a test of the first, or a comparison with an array on the
// owner column's type. A row without an owner is only a Company scope's.
func buildScopedTable(ctx context.Context, tx pgx.Tx, cat *tenantdb.Catalog, table *tenantdb.Table, s privacyv1alpha1.ScopedEntity) (scopedTable, string, error) {
	t := scopedTable{name: table.TableName()}
	ownerTable := table
	var fk *tenantdb.ForeignKey
	if len(s.Owner.Through) > 0 {
		for i, k := range cat.ForeignKeys {
			if k.Table == t.name.String() && slices.Equal(k.Columns, s.Owner.Through) {
				fk = &cat.ForeignKeys[i]
				break
			}
		}
		if fk == nil {
			return t, fmt.Sprintf("owner.through: table %s has no foreign key on (%s)", t.name, strings.Join(s.Owner.Through, ", ")), nil
		}
		if ownerTable = cat.Tables[fk.RefTable]; ownerTable == nil {
			return t, fmt.Sprintf("owner.through: table %s, which the foreign key references, is not readable", fk.RefTable), nil
		}
	}
	col, ok := ownerTable.Column(s.Owner.Column)
	if !ok {
		return t, fmt.Sprintf("owner.column: column %s.%s does not exist", ownerTable.TableName(), s.Owner.Column), nil
	}
	var area, permission, cast string
	if err := tx.QueryRow(ctx, "SELECT pg_catalog.quote_literal($1), pg_catalog.quote_literal($2), $3::regtype::text",
		s.Area, s.Permission, col.Type).Scan(&area, &permission, &cast); err != nil {
		return t, "", fmt.Errorf("quote the policy of %s: %w", t.name, err)
	}
	// The owner column is compared on its own type (text for strings), so
	// its index serves the comparison. The outer cast makes the subquery
	// one array value rather than a set of rows: it changes nothing.
	if col.Category == 'S' {
		cast = "text"
	}
	args := "(" + area + ", " + permission + ")"
	all := "(SELECT lethe.sees_all" + args + ")"
	owners := "(SELECT lethe.visible_owners" + args + "::" + cast + "[])::" + cast + "[]"
	owner := pgx.Identifier{s.Owner.Column}.Sanitize()
	if fk == nil {
		t.predicate = "(" + all + " OR " + owner + " = ANY (" + owners + "))"
	} else {
		refName, _ := tenantdb.ParseTableName(fk.RefTable)
		self := pgx.Identifier{t.name.Name}.Sanitize()
		var join []string
		for i, c := range fk.Columns {
			join = append(join, "lethe_owner."+pgx.Identifier{fk.RefColumns[i]}.Sanitize()+" = "+self+"."+pgx.Identifier{c}.Sanitize())
		}
		t.predicate = "(" + all + " OR EXISTS (SELECT 1 FROM " + refName.Sanitize() + " AS lethe_owner WHERE " +
			strings.Join(join, " AND ") + " AND lethe_owner." + owner + " = ANY (" + owners + ")))"
	}
	t.definition = "owner " + s.Owner.Column
	if fk != nil {
		t.definition += fmt.Sprintf(" of %s through (%s)", fk.RefTable, strings.Join(fk.Columns, ", "))
	}
	t.definition += "; area " + s.Area
	if s.Permission != "" {
		t.definition += "; permission " + s.Permission
	}
	return t, "", nil
}

// readRowSecurity reads the definitions the tables' policies were built
// from.
func readRowSecurity(ctx context.Context, tx pgx.Tx) (map[string]string, error) {
	rows, err := tx.Query(ctx, "SELECT table_name, definition FROM lethe.row_security")
	if err != nil {
		return nil, fmt.Errorf("read lethe.row_security: %w", err)
	}
	have := map[string]string{}
	var name, def string
	_, err = pgx.ForEachRow(rows, []any{&name, &def}, func() error {
		have[name] = def
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read lethe.row_security: %w", err)
	}
	return have, nil
}

// applyPolicies (re)creates a table's two policies and enables row
// security on it, remembering whether it was on before.
func applyPolicies(ctx context.Context, tx pgx.Tx, t scopedTable, exempt []string, force bool, def string) error {
	ident := t.name.Sanitize()
	var wasEnabled bool
	if err := tx.QueryRow(ctx, `SELECT c.relrowsecurity FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
		t.name.Schema, t.name.Name).Scan(&wasEnabled); err != nil {
		return fmt.Errorf("read row security of %s: %w", t.name, err)
	}
	roles := make([]string, len(exempt))
	for i, r := range exempt {
		roles[i] = pgx.Identifier{r}.Sanitize()
	}
	forceSQL := "NO FORCE"
	if force {
		forceSQL = "FORCE"
	}
	stmts := []string{
		"DROP POLICY IF EXISTS " + policyScope + " ON " + ident,
		"DROP POLICY IF EXISTS " + policyExempt + " ON " + ident,
		"CREATE POLICY " + policyScope + " ON " + ident + " AS PERMISSIVE FOR ALL TO PUBLIC USING " + t.predicate + " WITH CHECK " + t.predicate,
		"CREATE POLICY " + policyExempt + " ON " + ident + " AS PERMISSIVE FOR ALL TO " + strings.Join(roles, ", ") + " USING (true) WITH CHECK (true)",
		"ALTER TABLE " + ident + " ENABLE ROW LEVEL SECURITY",
		"ALTER TABLE " + ident + " " + forceSQL + " ROW LEVEL SECURITY",
	}
	for _, sql := range stmts {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("row security of %s: %w", t.name, err)
		}
	}
	// was_enabled keeps what the table had before Lethe's first policies.
	_, err := tx.Exec(ctx, `INSERT INTO lethe.row_security (table_name, definition, was_enabled) VALUES ($1, $2, $3)
		ON CONFLICT (table_name) DO UPDATE SET definition = EXCLUDED.definition`, t.name.String(), def, wasEnabled)
	if err != nil {
		return fmt.Errorf("write lethe.row_security: %w", err)
	}
	return nil
}

// removePolicies drops a table's policies, disables row security where
// Lethe enabled it, and forgets the table. A table dropped since is only
// forgotten.
func removePolicies(ctx context.Context, tx pgx.Tx, cat *tenantdb.Catalog, key string) error {
	var wasEnabled bool
	if err := tx.QueryRow(ctx, "DELETE FROM lethe.row_security WHERE table_name = $1 RETURNING was_enabled", key).Scan(&wasEnabled); err != nil {
		return fmt.Errorf("write lethe.row_security: %w", err)
	}
	table, ok := cat.Tables[key]
	if !ok {
		return nil
	}
	ident := table.Ident()
	stmts := []string{
		"DROP POLICY IF EXISTS " + policyScope + " ON " + ident,
		"DROP POLICY IF EXISTS " + policyExempt + " ON " + ident,
		"ALTER TABLE " + ident + " NO FORCE ROW LEVEL SECURITY",
	}
	if !wasEnabled {
		stmts = append(stmts, "ALTER TABLE "+ident+" DISABLE ROW LEVEL SECURITY")
	}
	for _, sql := range stmts {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("remove row security of %s: %w", key, err)
		}
	}
	return nil
}

// bypassingRoles lists the roles that bypass the policies: login roles
// that are superusers or have BYPASSRLS, and, without force, the tables'
// owners (whose members bypass them too).
func bypassingRoles(ctx context.Context, tx pgx.Tx, tables []string, force bool) ([]string, error) {
	if len(tables) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT r.rolname::text || ' (' || pg_catalog.concat_ws(', ',
			CASE WHEN r.rolsuper THEN 'superuser' END,
			CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END,
			CASE WHEN NOT $2 AND o.tables IS NOT NULL THEN 'owns ' || o.tables END) || ')'
		FROM pg_catalog.pg_roles r
		LEFT JOIN (
			SELECT c.relowner, pg_catalog.string_agg(t.name, ', ' ORDER BY t.name) AS tables
			FROM pg_catalog.unnest($1::text[]) AS t (name)
			JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.name)
			GROUP BY c.relowner
		) o ON o.relowner = r.oid
		WHERE (r.rolcanlogin AND (r.rolsuper OR r.rolbypassrls)) OR (NOT $2 AND o.tables IS NOT NULL)
		ORDER BY 1`, tables, force)
	if err != nil {
		return nil, fmt.Errorf("read pg_roles: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read pg_roles: %w", err)
	}
	return out, nil
}
