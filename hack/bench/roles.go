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
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/localenv"
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

// registerRolesFlags adds the roles scenario's flags.
func registerRolesFlags() *rolesConfig {
	rc := &rolesConfig{}
	flag.IntVar(&rc.roles, "roles", 200, "roles scenario: number of Roles, each synced into every tenant")
	flag.IntVar(&rc.members, "members", 10000, "roles scenario: members of all Roles together, each a distinct user")
	flag.IntVar(&rc.permissions, "permissions", 150, "roles scenario: permissions of the catalog")
	flag.IntVar(&rc.probes, "probes", 2000, "roles scenario: timed calls of each SQL function per run")
	flag.DurationVar(&rc.timeout, "roles-timeout", 20*time.Minute, "roles scenario: how long one run may wait for the Roles to sync")
	return rc
}

// rolesResult is one run's measurements.
type rolesResult struct {
	firstSync, converge        time.Duration
	canP50, canP99             time.Duration
	visibleP50, visibleP99     time.Duration
	visibleRows                float64
	rss                        int64
	convergeRows, auditRecords int64
}

// runRolesScenario runs the roles scenario cfg.runs times and writes
// roles.txt.
func runRolesScenario(ctx context.Context, cfg config, rc *rolesConfig) {
	if rc.roles < 1 || rc.members < rc.roles || rc.permissions < 10 || rc.probes < 100 {
		fatalf("-roles must be at least 1, -members at least -roles, -permissions at least 10 and -probes at least 100")
	}
	started := time.Now()
	var (
		results []rolesResult
		env     facts
	)
	for i := 1; i <= cfg.runs; i++ {
		progress("roles run %d/%d: %d roles, %d members, %d tenants", i, cfg.runs, rc.roles, rc.members, cfg.tenants)
		r, f, err := runRoles(ctx, cfg, rc, i)
		if err != nil {
			fatalf("roles run %d: %v", i, err)
		}
		progress("roles run %d/%d: first sync %.1fs, converged %.1fs after the catalog change; can p50 %.2fms, visible_users p50 %.2fms",
			i, cfg.runs, r.firstSync.Seconds(), r.converge.Seconds(), ms(r.canP50), ms(r.visibleP50))
		results = append(results, r)
		env = f
	}
	report := formatRolesReport(cfg, rc, started, env, results)
	if err := writeResult(cfg.out, "roles.txt", report); err != nil {
		fatalf("%v", err)
	}
	fmt.Print(report)
	progress("written to %s", filepath.Join(cfg.out, "roles.txt"))
}

// writeResult writes a results file atomically.
func writeResult(dir, name, content string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil { // #nosec G306 -- a results file meant to be read
		return err
	}
	return os.Rename(path+".tmp", path)
}

// runRoles is one run in a fresh environment.
func runRoles(ctx context.Context, cfg config, rc *rolesConfig, run int) (res rolesResult, f facts, err error) {
	dir, err := os.MkdirTemp("", fmt.Sprintf("lethe-bench-roles-%d-", run))
	if err != nil {
		return res, f, err
	}
	var mgr *localenv.Manager
	var env *localenv.Env
	defer func() {
		var errs []error
		if mgr != nil {
			if serr := mgr.Stop(); serr != nil {
				errs = append(errs, serr)
			}
		}
		if env != nil {
			if serr := env.Stop(); serr != nil {
				errs = append(errs, serr)
			}
		}
		if err == nil {
			err = errors.Join(errs...)
		}
		if err != nil || cfg.keep {
			progress("roles run %d: work directory kept: %s", run, dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()

	env, err = localenv.Start(ctx, localenv.Options{Dir: dir, DurablePostgres: true, MaxConnections: 400})
	if err != nil {
		return res, f, err
	}
	v, err := env.ServerVersions(ctx)
	if err != nil {
		return res, f, err
	}
	f = facts{kubernetes: v.Kubernetes, postgres: v.PostgreSQL, etcd: etcdVersion(env.AssetsDir)}
	c := env.Client
	if err := env.EnsureNamespace(ctx, rolesNamespace); err != nil {
		return res, f, err
	}
	if err := c.Create(ctx, benchInventory()); err != nil {
		return res, f, fmt.Errorf("create DataInventory: %w", err)
	}
	start := time.Now()
	tenants := make([]string, cfg.tenants)
	var probed pgtest.Database
	for i := range tenants {
		tenants[i] = fmt.Sprintf("tenant-%03d", i+1)
		db, err := createOrganizationTenant(ctx, env, tenants[i], rc.members)
		if err != nil {
			return res, f, err
		}
		if i == 0 {
			probed = db
		}
	}
	progress("roles run %d: %d tenant databases with %d users each in %.1fs", run, cfg.tenants, rc.members, time.Since(start).Seconds())

	if mgr, err = env.StartManager(ctx, cfg.manager, cfg.managerArgs...); err != nil {
		return res, f, err
	}
	for _, name := range tenants {
		tdb := tenantDatabase(name)
		tdb.Namespace, tdb.Spec.InventoryRef.Name = rolesNamespace, "people"
		tdb.Labels = map[string]string{"bench": "roles"}
		if err := c.Create(ctx, tdb); err != nil {
			return res, f, fmt.Errorf("create TenantDatabase %s: %w", name, err)
		}
	}
	if err := waitFor(ctx, mgr, cfg.timeout, func() (bool, error) { return allTenantsReady(ctx, c, len(tenants)) }); err != nil {
		return res, f, fmt.Errorf("TenantDatabases not Ready: %w", err)
	}
	cat := benchCatalog(rc.permissions)
	if err := c.Create(ctx, cat); err != nil {
		return res, f, fmt.Errorf("create PermissionCatalog: %w", err)
	}

	progress("roles run %d: creating %d Roles", run, rc.roles)
	t0 := time.Now()
	if err := createBenchRoles(ctx, c, rc); err != nil {
		return res, f, err
	}
	if err := waitRolesSynced(ctx, c, mgr, rc.timeout, cat, rc.roles, len(tenants)); err != nil {
		return res, f, fmt.Errorf("first sync: %w", err)
	}
	res.firstSync = time.Since(t0)
	progress("roles run %d: every Role synced into %d tenants after %.1fs", run, len(tenants), res.firstSync.Seconds())

	// The change: a new permission that P000, held by every role, now
	// requires: every role's closure grows by one in every tenant.
	added := fmt.Sprintf("P%03d", rc.permissions)
	if err := c.Get(ctx, client.ObjectKeyFromObject(cat), cat); err != nil {
		return res, f, err
	}
	cat.Spec.Permissions = append(cat.Spec.Permissions, privacyv1alpha1.CatalogPermission{Name: added, Area: "Feedback", Licenses: []string{"Data"}})
	cat.Spec.Permissions[0].Requires = []string{added}
	t1 := time.Now()
	if err := c.Update(ctx, cat); err != nil {
		return res, f, fmt.Errorf("update PermissionCatalog: %w", err)
	}
	if err := waitRolesSynced(ctx, c, mgr, rc.timeout, cat, rc.roles, len(tenants)); err != nil {
		return res, f, fmt.Errorf("converge: %w", err)
	}
	res.converge = time.Since(t1)

	conn, err := env.Postgres.AppConn(ctx, probed)
	if err != nil {
		return res, f, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM lethe.role_permissions WHERE permission = $1),
		(SELECT count(*) FROM lethe.audit_log WHERE action = 'SyncRole')`, added).Scan(&res.convergeRows, &res.auditRecords); err != nil {
		return res, f, err
	}
	if res.convergeRows != int64(rc.roles) {
		return res, f, fmt.Errorf("tenant %s holds %s for %d roles, want %d", tenants[0], added, res.convergeRows, rc.roles)
	}
	if err := probeLatency(ctx, conn, rc, &res); err != nil {
		return res, f, err
	}
	if res.rss, err = mgr.PeakRSS(); err != nil {
		return res, f, fmt.Errorf("peak RSS: %w", err)
	}
	return res, f, nil
}

func allTenantsReady(ctx context.Context, c client.Client, want int) (bool, error) {
	var list privacyv1alpha1.TenantDatabaseList
	if err := c.List(ctx, &list, client.InNamespace(rolesNamespace)); err != nil {
		return false, err
	}
	ready := 0
	for i := range list.Items {
		if meta.IsStatusConditionTrue(list.Items[i].Status.Conditions, privacyv1alpha1.ConditionReady) {
			ready++
		}
	}
	return ready == want, nil
}

// waitRolesSynced waits until every Role is Ready for its generation and
// the catalog's current generation, synced into every tenant.
func waitRolesSynced(ctx context.Context, c client.Client, mgr *localenv.Manager, timeout time.Duration,
	cat *privacyv1alpha1.PermissionCatalog, roles, tenants int) error {
	want := fmt.Sprintf("%d/%d", tenants, tenants)
	synced := 0
	err := waitForEvery(ctx, mgr, timeout, rolesPollInterval, func() (bool, error) {
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

// waitForEvery is waitFor with its own poll interval: listing hundreds of
// Roles ten times a second would slow the API server being measured.
func waitForEvery(ctx context.Context, mgr *localenv.Manager, timeout, every time.Duration, cond func() (bool, error)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-mgr.Exited():
			return fmt.Errorf("the manager exited: %v", mgr.ExitError())
		case <-deadline.C:
			return errors.Join(fmt.Errorf("timed out after %s", timeout), lastErr)
		case <-tick.C:
		}
	}
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
	can := make([]time.Duration, rc.probes)
	for i := range can {
		perm := fmt.Sprintf("P%03d", rng.IntN(rc.permissions))
		u := user()
		t := time.Now()
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT lethe.can($1, $2)", u, perm).Scan(&ok); err != nil {
			return fmt.Errorf("lethe.can: %w", err)
		}
		can[i] = time.Since(t)
	}
	visible := make([]time.Duration, rc.probes)
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
		visible[i] = time.Since(t)
	}
	res.canP50, res.canP99 = percentile(can, 50), percentile(can, 99)
	res.visibleP50, res.visibleP99 = percentile(visible, 50), percentile(visible, 99)
	res.visibleRows = float64(rows) / float64(len(visible))
	return nil
}

func percentile(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func formatRolesReport(cfg config, rc *rolesConfig, started time.Time, env facts, results []rolesResult) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	args := "defaults"
	if len(cfg.managerArgs) > 0 {
		args = strings.Join(cfg.managerArgs, " ")
	}
	w("Lethe benchmark: roles\n\n")
	w("date:        %s\n", started.UTC().Format(time.RFC3339))
	w("machine:     %s; %s; %d cores; %.1f GiB memory\n", uname(), cpuModel(), runtime.NumCPU(), float64(memTotal())/(1<<30))
	w("go:          %s\n", runtime.Version())
	w("postgresql:  %s (local, default durability settings, max_connections=400)\n", env.postgres)
	w("kubernetes:  %s (envtest kube-apiserver, etcd %s)\n", env.kubernetes, env.etcd)
	scoped := 0
	for _, p := range benchCatalog(rc.permissions).Spec.Permissions {
		if p.Scoped {
			scoped++
		}
	}
	w("scenario:    a PermissionCatalog of %d permissions in 5 areas (chains of required permissions up to 3 deep,\n", rc.permissions)
	w("             %d scoped permissions); %d Roles with %d members in all (%d each, each a distinct user), every\n", scoped, rc.roles, rc.members, rc.members/rc.roles)
	w("             Role synced into %d TenantDatabases, each its own database with %d users in %d teams and\n", cfg.tenants, rc.members, benchTeams)
	w("             %d groups mapped by the DataInventory's organization; manager flags: %s\n", benchGroups, args)
	w("first sync:  from creating the Roles until every Role is Ready and synced into every tenant\n")
	w("converge:    from the catalog update (P000, held by every Role, now requires a new permission) until every\n")
	w("             Role is Ready for the new catalog generation and synced into every tenant (polled every %s)\n", rolesPollInterval)
	w("latency:     %d calls of each function, one at a time on one connection to one tenant, random users,\n", rc.probes)
	w("             permissions and areas; visible_users time includes fetching its rows\n")
	w("runs:        %d, each in a fresh environment\n\n", len(results))

	col := func(f func(rolesResult) float64) []float64 {
		out := make([]float64, len(results))
		for i, r := range results {
			out[i] = f(r)
		}
		return out
	}
	w("%-44s %9s %9s %9s\n", "figure", "min", "median", "max")
	row := func(name string, vals []float64) {
		lo, med, hi := stats(vals)
		w("%-44s %9.2f %9.2f %9.2f\n", name, lo, med, hi)
	}
	row("time to first sync, all Roles (s)", col(func(r rolesResult) float64 { return r.firstSync.Seconds() }))
	row("time to converge after a catalog change (s)", col(func(r rolesResult) float64 { return r.converge.Seconds() }))
	row("lethe.can p50 (ms)", col(func(r rolesResult) float64 { return ms(r.canP50) }))
	row("lethe.can p99 (ms)", col(func(r rolesResult) float64 { return ms(r.canP99) }))
	row("lethe.visible_users p50 (ms)", col(func(r rolesResult) float64 { return ms(r.visibleP50) }))
	row("lethe.visible_users p99 (ms)", col(func(r rolesResult) float64 { return ms(r.visibleP99) }))
	row("lethe.visible_users rows per call (mean)", col(func(r rolesResult) float64 { return r.visibleRows }))
	row("manager peak RSS (MiB)", col(func(r rolesResult) float64 { return mib(r.rss) }))
	w("\nthe catalog change writes %d lethe.role_permissions rows per tenant (one per Role), %d in all,\n", rc.roles, rc.roles*cfg.tenants)
	w("each with its audit record, in one transaction per Role and tenant\n")
	w("\nper run:\n")
	for i, r := range results {
		w("  run %d: first sync %.2f s, converge %.2f s, can p50/p99 %.2f/%.2f ms, visible_users p50/p99 %.2f/%.2f ms, %.1f MiB\n",
			i+1, r.firstSync.Seconds(), r.converge.Seconds(), ms(r.canP50), ms(r.canP99), ms(r.visibleP50), ms(r.visibleP99), mib(r.rss))
	}
	return b.String()
}
