package main

// Scenario "roles": N tenant databases, each with an organization of
// -members users (100 teams, 40 groups, every user in two groups) mapped by
// one DataInventory; their N TenantDatabases Ready; a PermissionCatalog of
// -permissions permissions in five areas; -roles Roles with -members members
// in all (each user in one role), every Role synced into every tenant.
// Measured: the time from creating the Roles until all are synced (first
// sync); the time from a catalog change that grows every role's closure by
// one permission until every Role reports the new catalog generation synced
// into every tenant (converge); the latency of lethe.can and
// lethe.visible_users on one tenant (p50, p99 of -probes calls each); the
// manager's peak RSS. Results go to <out>/roles.txt.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/hack/localenv"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

const (
	rolesNamespace    = "bench-roles"
	rolesPollInterval = 250 * time.Millisecond
	benchTeams        = 100
	benchGroups       = 40
)

var benchAreas = []string{"Feedback", "QA", "Coaching", "Admin", "Social"}

type rolesConfig struct {
	roles, members, permissions, probes int
	timeout                             time.Duration
}

func (rc *rolesConfig) validate(cfg config) error {
	if cfg.tenants < 1 {
		return errors.New("-tenants must be at least 1")
	}
	// Every Role holds ten permissions outside the Admin area (benchRole):
	// a catalog of 12 has ten.
	if rc.roles < 1 || rc.members < rc.roles || rc.permissions < 12 || rc.probes < 100 {
		return errors.New("-roles must be at least 1, -members at least -roles, -permissions at least 12 and -probes at least 100")
	}
	return nil
}

// rolesResult is one run's measurements; latencies in milliseconds.
type rolesResult struct {
	firstSync, converge        time.Duration
	canP50, canP99             float64
	visibleP50, visibleP99     float64
	visibleRows                float64
	rss                        int64
	convergeRows, auditRecords int64
}

// runRolesScenario runs the roles scenario cfg.runs times and writes
// roles.txt.
func runRolesScenario(ctx context.Context, cfg config, rc *rolesConfig) {
	started := time.Now()
	results, versions := benchutil.Repeat("roles run", cfg.runs,
		fmt.Sprintf("%d roles, %d members, %d tenants", rc.roles, rc.members, cfg.tenants),
		func(n int) (rolesResult, localenv.Versions, error) { return runRoles(ctx, cfg, rc, n) },
		func(r rolesResult) string {
			return fmt.Sprintf("first sync %.1fs, converged %.1fs after the catalog change; can p50 %.2fms, visible_users p50 %.2fms",
				r.firstSync.Seconds(), r.converge.Seconds(), r.canP50, r.visibleP50)
		})
	benchutil.Publish(cfg.out, "roles.txt", formatRolesReport(cfg, rc, started, versions, results))
}

// runRoles is one run in a fresh environment.
func runRoles(ctx context.Context, cfg config, rc *rolesConfig, n int) (res rolesResult, v localenv.Versions, err error) {
	run, err := benchutil.StartRun(ctx, benchutil.RunOptions{Label: fmt.Sprintf("roles run %d", n),
		DirPattern: fmt.Sprintf("lethe-bench-roles-%d-", n), Keep: cfg.keep, MaxConnections: maxConnections,
		Namespace: rolesNamespace})
	if err != nil {
		return res, v, err
	}
	defer run.Finish(&err)
	v, env, c := run.Versions, run.Env, run.Env.Client
	if err := c.Create(ctx, benchInventory()); err != nil {
		return res, v, fmt.Errorf("create DataInventory: %w", err)
	}
	start := time.Now()
	tenants := benchutil.TenantNames(cfg.tenants)
	var probed pgtest.Database
	for j, name := range tenants {
		db, err := createOrganizationTenant(ctx, env, name, rc.members)
		if err != nil {
			return res, v, err
		}
		if j == 0 {
			probed = db
		}
	}
	benchutil.Progress("%s: %d tenant databases with %d users each in %.1fs", run.Label, cfg.tenants, rc.members, time.Since(start).Seconds())

	if err := run.StartManager(ctx, cfg.manager, cfg.managerArgs); err != nil {
		return res, v, err
	}
	for _, name := range tenants {
		tdb := benchutil.TenantDatabase(rolesNamespace, name, "people")
		tdb.Labels = map[string]string{"bench": "roles"}
		if err := c.Create(ctx, tdb); err != nil {
			return res, v, fmt.Errorf("create TenantDatabase %s: %w", name, err)
		}
	}
	if err := run.WaitFor(ctx, cfg.timeout, pollInterval, func() (bool, error) {
		ready, err := benchutil.ReadyTenantDatabases(ctx, c, rolesNamespace)
		return ready == len(tenants), err
	}); err != nil {
		return res, v, fmt.Errorf("TenantDatabases not Ready: %w", err)
	}
	cat := benchCatalog(rc.permissions)
	if err := c.Create(ctx, cat); err != nil {
		return res, v, fmt.Errorf("create PermissionCatalog: %w", err)
	}

	benchutil.Progress("%s: creating %d Roles", run.Label, rc.roles)
	t0 := time.Now()
	if err := createBenchRoles(ctx, c, rc); err != nil {
		return res, v, err
	}
	if err := waitRolesSynced(ctx, c, run, rc.timeout, cat, rc.roles, len(tenants)); err != nil {
		return res, v, fmt.Errorf("first sync: %w", err)
	}
	res.firstSync = time.Since(t0)
	benchutil.Progress("%s: every Role synced into %d tenants after %.1fs", run.Label, len(tenants), res.firstSync.Seconds())

	// The change: a new permission that P000, held by every role, now
	// requires: every role's closure grows by one in every tenant.
	added := fmt.Sprintf("P%03d", rc.permissions)
	if err := c.Get(ctx, client.ObjectKeyFromObject(cat), cat); err != nil {
		return res, v, err
	}
	cat.Spec.Permissions = append(cat.Spec.Permissions, privacyv1alpha1.CatalogPermission{Name: added, Area: "Feedback", Licenses: []string{"Data"}})
	cat.Spec.Permissions[0].Requires = []string{added}
	t1 := time.Now()
	if err := c.Update(ctx, cat); err != nil {
		return res, v, fmt.Errorf("update PermissionCatalog: %w", err)
	}
	if err := waitRolesSynced(ctx, c, run, rc.timeout, cat, rc.roles, len(tenants)); err != nil {
		return res, v, fmt.Errorf("converge: %w", err)
	}
	res.converge = time.Since(t1)

	conn, err := env.Postgres.AppConn(ctx, probed)
	if err != nil {
		return res, v, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM lethe.role_permissions WHERE permission = $1),
		(SELECT count(*) FROM lethe.audit_log WHERE action = 'SyncRole')`, added).Scan(&res.convergeRows, &res.auditRecords); err != nil {
		return res, v, err
	}
	if res.convergeRows != int64(rc.roles) {
		return res, v, fmt.Errorf("tenant %s holds %s for %d roles, want %d", tenants[0], added, res.convergeRows, rc.roles)
	}
	if err := probeLatency(ctx, conn, rc, &res); err != nil {
		return res, v, err
	}
	res.rss, err = run.PeakRSS()
	return res, v, err
}

// waitRolesSynced waits until every Role is Ready for its generation and
// the catalog's current generation, synced into every tenant. It polls every
// rolesPollInterval: listing hundreds of Roles ten times a second would slow
// the API server being measured.
func waitRolesSynced(ctx context.Context, c client.Client, run *benchutil.Run, timeout time.Duration,
	cat *privacyv1alpha1.PermissionCatalog, roles, tenants int) error {
	want := fmt.Sprintf("%d/%d", tenants, tenants)
	synced := 0
	err := run.WaitFor(ctx, timeout, rolesPollInterval, func() (bool, error) {
		var list privacyv1alpha1.RoleList
		if err := c.List(ctx, &list, client.InNamespace(rolesNamespace)); err != nil {
			return false, err
		}
		synced = 0
		for i := range list.Items {
			r := &list.Items[i]
			if r.Status.CatalogGeneration == cat.Generation && r.Status.ObservedGeneration == r.Generation && r.Status.Synced == want &&
				meta.IsStatusConditionTrue(r.Status.Conditions, privacyv1alpha1.ConditionReady) {
				synced++
			}
		}
		return synced == roles, nil
	})
	if err != nil {
		return fmt.Errorf("%d of %d Roles synced: %w", synced, roles, err)
	}
	return nil
}

// probeLatency times lethe.can and lethe.visible_users with random users,
// permissions and areas, one call at a time on one connection.
func probeLatency(ctx context.Context, conn *pgx.Conn, rc *rolesConfig, res *rolesResult) error {
	rng := rand.New(rand.NewPCG(uint64(rc.probes), 7)) // #nosec G115 G404 -- a positive count seeding benchmark inputs, not secrets
	user := func() string { return fmt.Sprintf("u%05d", rng.IntN(rc.members)) }
	for i := 0; i < 50; i++ { // warm up the plan caches
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT lethe.can($1, $2)", user(), "P000").Scan(&ok); err != nil {
			return err
		}
	}
	can := make([]float64, rc.probes)
	for i := range can {
		perm := fmt.Sprintf("P%03d", rng.IntN(rc.permissions))
		u := user()
		t := time.Now()
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT lethe.can($1, $2)", u, perm).Scan(&ok); err != nil {
			return fmt.Errorf("lethe.can: %w", err)
		}
		can[i] = benchutil.Ms(time.Since(t))
	}
	visible := make([]float64, rc.probes)
	rows := 0
	for i := range visible {
		area := benchAreas[rng.IntN(len(benchAreas))]
		u := user()
		t := time.Now()
		r, err := conn.Query(ctx, "SELECT lethe.visible_users($1, $2)", u, area)
		if err != nil {
			return fmt.Errorf("lethe.visible_users: %w", err)
		}
		for r.Next() {
			rows++
		}
		if err := r.Err(); err != nil {
			return fmt.Errorf("lethe.visible_users: %w", err)
		}
		visible[i] = benchutil.Ms(time.Since(t))
	}
	res.canP50, res.canP99 = benchutil.Percentile(can, 50), benchutil.Percentile(can, 99)
	res.visibleP50, res.visibleP99 = benchutil.Percentile(visible, 50), benchutil.Percentile(visible, 99)
	res.visibleRows = float64(rows) / float64(len(visible))
	return nil
}

func formatRolesReport(cfg config, rc *rolesConfig, started time.Time, v localenv.Versions, results []rolesResult) string {
	r := benchutil.NewReport("roles", started)
	r.Versions(v, fmt.Sprintf("local, default durability settings, max_connections=%d", maxConnections))
	scoped := 0
	for _, p := range benchCatalog(rc.permissions).Spec.Permissions {
		if p.Scoped {
			scoped++
		}
	}
	r.Printf("scenario:    a PermissionCatalog of %d permissions in 5 areas (chains of required permissions up to 3 deep,\n", rc.permissions)
	r.Printf("             %d scoped permissions); %d Roles with %d members in all (%d each, each a distinct user), every\n", scoped, rc.roles, rc.members, rc.members/rc.roles)
	r.Printf("             Role synced into %d TenantDatabases, each its own database with %d users in %d teams and\n", cfg.tenants, rc.members, benchTeams)
	r.Printf("             %d groups mapped by the DataInventory's organization; manager flags: %s\n", benchGroups, benchutil.ManagerFlags(cfg.managerArgs))
	r.Printf("first sync:  from creating the Roles until every Role is Ready and synced into every tenant\n")
	r.Printf("converge:    from the catalog update (P000, held by every Role, now requires a new permission) until every\n")
	r.Printf("             Role is Ready for the new catalog generation and synced into every tenant (polled every %s)\n", rolesPollInterval)
	r.Printf("latency:     %d calls of each function, one at a time on one connection to one tenant, random users,\n", rc.probes)
	r.Printf("             permissions and areas; visible_users time includes fetching its rows\n")
	r.Printf("runs:        %d, each in a fresh environment\n\n", len(results))

	col := func(f func(rolesResult) float64) []float64 { return benchutil.Column(results, f) }
	t := r.StatsTable(44, 9)
	t.Info("time to first sync, all Roles (s)", col(func(x rolesResult) float64 { return x.firstSync.Seconds() }))
	t.Info("time to converge after a catalog change (s)", col(func(x rolesResult) float64 { return x.converge.Seconds() }))
	t.Info("lethe.can p50 (ms)", col(func(x rolesResult) float64 { return x.canP50 }))
	t.Info("lethe.can p99 (ms)", col(func(x rolesResult) float64 { return x.canP99 }))
	t.Info("lethe.visible_users p50 (ms)", col(func(x rolesResult) float64 { return x.visibleP50 }))
	t.Info("lethe.visible_users p99 (ms)", col(func(x rolesResult) float64 { return x.visibleP99 }))
	t.Info("lethe.visible_users rows per call (mean)", col(func(x rolesResult) float64 { return x.visibleRows }))
	t.Info("manager peak RSS (MiB)", col(func(x rolesResult) float64 { return benchutil.MiB(x.rss) }))
	r.Printf("\nthe catalog change writes %d lethe.role_permissions rows per tenant (one per Role), %d in all,\n", rc.roles, rc.roles*cfg.tenants)
	r.Printf("each with its audit record, in one transaction per Role and tenant\n")
	r.Printf("\nper run:\n")
	for i, x := range results {
		r.Printf("  run %d: first sync %.2f s, converge %.2f s, can p50/p99 %.2f/%.2f ms, visible_users p50/p99 %.2f/%.2f ms, %.1f MiB\n",
			i+1, x.firstSync.Seconds(), x.converge.Seconds(), x.canP50, x.canP99, x.visibleP50, x.visibleP99, benchutil.MiB(x.rss))
	}
	return r.String()
}
