package main

// The rls scenario: the cost of Lethe's row-level security policies
// (internal/rolesync.EnsureRowSecurity) on a table of -rls-rows calls owned
// by -rls-users agents, against the same queries on the same data with
// row-level security bypassed (the table's owner), measured in the same run,
// interleaved.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/hack/localenv"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/rbac"
	"github.com/lethe-dev/lethe/internal/rolesync"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

type rlsConfig struct {
	rows, users, probes, aggregates int
}

func (c *rlsConfig) validate(config) error {
	if c.rows < 100000 || c.users < 100 || c.users > c.rows/200 || c.probes < 100 || c.aggregates < 5 {
		return errors.New("-rls-rows must be at least 100000, -rls-users 100 to -rls-rows/200, -rls-probes at least 100 and -rls-aggregates at least 5")
	}
	return nil
}

// rlsTeamSize is the number of agents per team: a team lead sees that many
// agents' calls.
const rlsTeamSize = 20

// The bench tables: the organization's users, and their calls, indexed by
// agent and date as an application would.
const rlsDDL = `CREATE SCHEMA app;
CREATE TABLE app.users (id text PRIMARY KEY, team text NOT NULL, active boolean NOT NULL DEFAULT true);
CREATE INDEX ON app.users (team);
CREATE TABLE app.calls (
    id         bigint PRIMARY KEY,
    agent_id   text NOT NULL REFERENCES app.users,
    started_at timestamptz NOT NULL,
    duration   integer NOT NULL
)`

const rlsUsers = `INSERT INTO app.users SELECT 'u' || lpad(i::text, 5, '0'), 't' || (i / 20) FROM generate_series(0, $1::int - 1) AS i`

const rlsLoad = `INSERT INTO app.calls
SELECT i, 'u' || lpad((i % $2::int)::text, 5, '0'), timestamptz '2025-01-01 00:00+00' + i * interval '30 seconds', (i * 7) % 900
FROM generate_series(1, $1::bigint) AS i`

var rlsIndex = []string{"CREATE INDEX calls_agent_started ON app.calls (agent_id, started_at)",
	"VACUUM ANALYZE app.users", "VACUUM ANALYZE app.calls"}

// The two queries: a page of one agent's latest calls, and an aggregate
// over the whole table.
const (
	rlsPageSQL = `SELECT id, started_at, duration FROM app.calls WHERE agent_id = $1 AND started_at >= $2
		ORDER BY started_at DESC LIMIT 100`
	rlsAggregateSQL = `SELECT count(*), sum(duration) FROM app.calls`
)

// rlsRun is one run's figures: medians in milliseconds.
type rlsRun struct {
	pageOff, pageOn           float64
	aggOff, aggOnAll, aggTeam float64
	teamRows                  int64
}

func runRLSScenario(ctx context.Context, cfg config, rc *rlsConfig) {
	started := time.Now()
	load := benchutil.LoadAverage()
	local, err := startPostgres("rls", cfg.keep)
	if err != nil {
		benchutil.Fatalf("rls: %v", err)
	}
	var (
		postgres string
		loadTime time.Duration
		runs     []rlsRun
	)
	err = func() (err error) {
		defer local.stop(&err)
		db, err := local.srv.CreateDatabase(ctx, "bench")
		if err != nil {
			return err
		}
		pcfg, err := tenantdb.ParseSecret(db.SecretData(), 4)
		if err != nil {
			return err
		}
		owner, err := local.pools.Get(ctx, "bench", pcfg)
		if err != nil {
			return err
		}
		if _, _, err := tenantdb.Migrate(ctx, owner); err != nil {
			return err
		}
		if err := owner.QueryRow(ctx, "SHOW server_version").Scan(&postgres); err != nil {
			return err
		}
		benchutil.Progress("rls: loading %d calls of %d agents", rc.rows, rc.users)
		start := time.Now()
		if err := loadRLS(ctx, owner, rc); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		loadTime = time.Since(start)
		dsn, err := local.srv.ApplicationRole(ctx, db, "app_user", "app")
		if err != nil {
			return err
		}
		app, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer func() { _ = app.Close(context.Background()) }()
		ownerConn, err := owner.Acquire(ctx)
		if err != nil {
			return err
		}
		defer ownerConn.Release()
		runs, _ = benchutil.Repeat("rls", cfg.runs, fmt.Sprintf("%d calls", rc.rows), func(int) (rlsRun, localenv.Versions, error) {
			r, err := measureRLS(ctx, ownerConn.Conn(), app, rc)
			return r, localenv.Versions{}, err
		}, func(r rlsRun) string {
			return fmt.Sprintf("page %.3f/%.3f ms, aggregate %.1f/%.1f ms", r.pageOn, r.pageOff, r.aggOnAll, r.aggOff)
		})
		return nil
	}()
	if err != nil {
		benchutil.Fatalf("rls: %v", err)
	}

	rep := benchutil.NewReport("rls", started)
	rep.Printf("load:        1-minute load average %s at the start, %s at the end (other work on the machine\n", load, benchutil.LoadAverage())
	rep.Printf("             shares its cores with the benchmark)\n")
	rep.Printf("go:          %s\n", runtime.Version())
	rep.Printf("postgresql:  %s (local, default durability settings)\n", postgres)
	rep.Printf("table:       app.calls, %d rows of %d agents in teams of %d, indexed on (agent_id, started_at),\n", rc.rows, rc.users, rlsTeamSize)
	rep.Printf("             loaded and vacuumed in %.1f s; scoped by agent_id in area QA, Lethe's policies\n", loadTime.Seconds())
	rep.Printf("             created by rolesync.EnsureRowSecurity\n")
	rep.Printf("queries:     page: %d times one agent's latest 100 calls (agent_id = $1 AND started_at >= $2\n", rc.probes)
	rep.Printf("             ORDER BY started_at DESC LIMIT 100), random agents of the lead's team;\n")
	rep.Printf("             aggregate: %d times count(*), sum(duration) over the whole table\n", rc.aggregates)
	rep.Printf("under RLS:   an application role (no BYPASSRLS, owning nothing) with lethe.user_id set per\n")
	rep.Printf("             transaction: a team lead (OwnTeam) for the page, a Company user for the aggregate\n")
	rep.Printf("without:     the same query on the same connection pattern as the table's owner (RLS bypassed);\n")
	rep.Printf("             the two alternate query by query, medians compared\n")
	rep.Printf("runs:        %d, on the same table in one PostgreSQL (its pages cached after the load)\n\n", cfg.runs)

	col := func(f func(rlsRun) float64) []float64 { return benchutil.Column(runs, f) }
	t := rep.TargetTable(52)
	t.AtMost("page of 100 rows by owner and date, RLS / without", col(func(r rlsRun) float64 { return r.pageOn / r.pageOff }), 1.2, "")
	t.AtMost("full-table aggregate (Company), RLS / without", col(func(r rlsRun) float64 { return r.aggOnAll / r.aggOff }), 1.5, "")
	t.Info("page without RLS, median (ms)", col(func(r rlsRun) float64 { return r.pageOff }))
	t.Info("page under RLS, median (ms)", col(func(r rlsRun) float64 { return r.pageOn }))
	t.Info("aggregate without RLS, median (ms)", col(func(r rlsRun) float64 { return r.aggOff }))
	t.Info("aggregate under RLS, Company, median (ms)", col(func(r rlsRun) float64 { return r.aggOnAll }))
	t.Info("aggregate under RLS, OwnTeam, median (ms)", col(func(r rlsRun) float64 { return r.aggTeam }))
	t.Info("rows the OwnTeam lead counts", col(func(r rlsRun) float64 { return float64(r.teamRows) }))
	rep.Printf("\nnotes:\n")
	rep.Printf("  - the policy asks lethe.sees_all once per statement whether the user sees every row\n")
	rep.Printf("    (Company), and lethe.visible_owners once which owners otherwise (InitPlans); per row it\n")
	rep.Printf("    is a test of the first, or agent_id = ANY (the lead's %d agents)\n", rlsTeamSize)
	rep.Printf("  - the OwnTeam aggregate reads the whole table and keeps the team's rows: information only\n")
	benchutil.Publish(cfg.out, "rls.txt", rep.String())
}

// loadRLS creates the tables, the organization, two roles (a team lead
// with OwnTeam, a manager with Company, both in area QA) and the policies.
func loadRLS(ctx context.Context, pool *pgxpool.Pool, rc *rlsConfig) error {
	if _, err := pool.Exec(ctx, rlsDDL); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, rlsUsers, rc.users); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, rlsLoad, rc.rows, rc.users); err != nil {
		return err
	}
	for _, sql := range rlsIndex {
		if _, err := pool.Exec(ctx, sql); err != nil {
			return err
		}
	}
	inv := &privacyv1alpha1.DataInventorySpec{
		Entities: []privacyv1alpha1.Entity{{Name: "call", Table: "app.calls"}},
		Organization: &privacyv1alpha1.Organization{
			Users: privacyv1alpha1.OrganizationUsers{Table: "app.users", IDColumn: "id", TeamColumn: "team", ActiveColumn: "active"},
			ScopedEntities: []privacyv1alpha1.ScopedEntity{
				{Entity: "call", Owner: privacyv1alpha1.EntityOwner{Column: "agent_id"}, Area: "QA"},
			},
		},
	}
	obj := audit.Object{Kind: "TenantDatabase", Name: "bench"}
	if _, err := rolesync.EnsureOrganization(ctx, pool, inv.Organization, obj, "bench"); err != nil {
		return err
	}
	cat, problems := rbac.NewCatalog(&privacyv1alpha1.PermissionCatalogSpec{
		Areas:       []privacyv1alpha1.CatalogArea{{Name: "QA"}},
		Licenses:    []privacyv1alpha1.CatalogLicense{{Name: "Data", Seats: 10}},
		Permissions: []privacyv1alpha1.CatalogPermission{{Name: "ViewEvaluations", Area: "QA", Licenses: []string{"Data"}}},
	})
	if len(problems) > 0 {
		return fmt.Errorf("catalog: %v", problems)
	}
	for _, r := range []struct {
		name   string
		scope  privacyv1alpha1.DataScopeType
		member string
	}{{"lead", "OwnTeam", rlsLead}, {"manager", "Company", rlsManager}} {
		spec := &privacyv1alpha1.RoleSpec{CatalogRef: privacyv1alpha1.LocalObjectReference{Name: "qm"}, DisplayName: r.name,
			Licenses: []string{"Data"}, Permissions: []string{"ViewEvaluations"},
			DataScope: privacyv1alpha1.RoleDataScope{Default: r.scope}, Members: []string{r.member}}
		res := rbac.Resolve(cat, spec)
		if _, err := rolesync.Sync(ctx, pool, rolesync.Request{Role: rolesync.Build("bench/"+r.name, r.name, spec, cat, &res),
			Object: obj, Actor: "bench", Guards: rolesync.GuardsOf(cat)}); err != nil {
			return err
		}
	}
	c, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		return err
	}
	_, err = rolesync.EnsureRowSecurity(ctx, pool, c, rolesync.RowSecurityRequest{Inventory: inv, Object: obj, Actor: "bench"})
	return err
}

// The lead is the first agent of team t1 (agents u00020 to u00039); the
// manager is an agent too.
const (
	rlsLead    = "u00020"
	rlsManager = "u00000"
)

// timed runs one query in a transaction, as user, and returns how long it
// took, fetching every row, and the rows (the count, for the aggregate).
func timed(ctx context.Context, conn *pgx.Conn, user, sql string, args ...any) (float64, int64, error) {
	start := time.Now()
	var n int64
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('lethe.user_id', $1, true)", user); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			n++
			if sql == rlsAggregateSQL {
				if err := rows.Scan(&n, new(int64)); err != nil {
					return err
				}
			}
		}
		return rows.Err()
	})
	return benchutil.Ms(time.Since(start)), n, err
}

// measureRLS alternates each query with and without RLS and returns the
// medians. Both sides open a transaction and set the user: only the
// policies differ.
func measureRLS(ctx context.Context, owner, app *pgx.Conn, rc *rlsConfig) (rlsRun, error) {
	var r rlsRun
	// Each agent has a call every rc.users*30 s: the window holds their
	// latest 150 or so, of which the page takes 100.
	last := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rc.rows) * 30 * time.Second)
	since := last.Add(-time.Duration(150*rc.users) * 30 * time.Second)
	off, on := make([]float64, rc.probes), make([]float64, rc.probes)
	for i := 0; i < rc.probes+20; i++ {
		agent := fmt.Sprintf("u%05d", 20+i%rlsTeamSize)
		a, _, err := timed(ctx, owner, rlsLead, rlsPageSQL, agent, since)
		if err != nil {
			return r, err
		}
		b, rows, err := timed(ctx, app, rlsLead, rlsPageSQL, agent, since)
		if err != nil {
			return r, err
		}
		if rows != 100 {
			return r, fmt.Errorf("the lead sees %d rows of agent %s, want 100", rows, agent)
		}
		if i >= 20 { // the first 20 warm the plan caches
			off[i-20], on[i-20] = a, b
		}
	}
	r.pageOff, r.pageOn = benchutil.Percentile(off, 50), benchutil.Percentile(on, 50)
	aggOff, aggAll, aggTeam := make([]float64, rc.aggregates), make([]float64, rc.aggregates), make([]float64, rc.aggregates)
	for i := range aggOff {
		var all, n int64
		var err error
		if aggOff[i], all, err = timed(ctx, owner, rlsManager, rlsAggregateSQL); err != nil {
			return r, err
		}
		if aggAll[i], n, err = timed(ctx, app, rlsManager, rlsAggregateSQL); err != nil {
			return r, err
		}
		if n != all {
			return r, fmt.Errorf("the Company user counts %d rows, want %d", n, all)
		}
		if aggTeam[i], r.teamRows, err = timed(ctx, app, rlsLead, rlsAggregateSQL); err != nil {
			return r, err
		}
	}
	r.aggOff, r.aggOnAll, r.aggTeam = benchutil.Percentile(aggOff, 50), benchutil.Percentile(aggAll, 50), benchutil.Percentile(aggTeam, 50)
	return r, nil
}
