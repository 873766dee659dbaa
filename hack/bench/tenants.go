package main

// Scenario "tenants": N tenant databases, each with the sample application
// and its connection Secret, and one DataInventory exist; the manager runs;
// N TenantDatabases are created at once. Measured: the wall time from the
// first create until all N report Ready=True (polled every 100 ms), and the
// manager's peak resident set size (VmHWM) at that point. Each run starts from
// a fresh environment. Results go to <out>/tenants.txt.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/hack/localenv"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

const (
	// namespace is the namespace of the tenants and dsr scenarios.
	namespace = "bench"
	// maxConnections is PostgreSQL's max_connections in the tenants and
	// roles scenarios.
	maxConnections = 400

	// Targets of the "tenants" scenario.
	targetReady = 15 * time.Second
	targetRSS   = 150 << 20

	pollInterval = 100 * time.Millisecond
)

// result is one run's measurements.
type result struct {
	ready time.Duration
	rss   int64
}

func validateTenants(cfg config) error {
	if cfg.tenants < 1 || cfg.customers < 1 {
		return errors.New("-tenants and -customers must be at least 1")
	}
	return nil
}

// runTenantsScenario runs the tenants scenario cfg.runs times and writes
// tenants.txt.
func runTenantsScenario(ctx context.Context, cfg config) {
	started := time.Now()
	inv, err := benchutil.SampleInventory()
	if err != nil {
		benchutil.Fatalf("%v", err)
	}
	results, versions := benchutil.Repeat("run", cfg.runs, fmt.Sprintf("%d tenants", cfg.tenants),
		func(n int) (result, localenv.Versions, error) { return runTenants(ctx, cfg, inv.DeepCopy(), n) },
		func(r result) string {
			return fmt.Sprintf("all %d Ready after %.2fs, manager peak RSS %.1f MiB", cfg.tenants, r.ready.Seconds(), benchutil.MiB(r.rss))
		})
	benchutil.Publish(cfg.out, "tenants.txt", formatTenantsReport(cfg, started, versions, results))
}

// runTenants is one run of the "tenants" scenario in a fresh environment.
func runTenants(ctx context.Context, cfg config, inv *privacyv1alpha1.DataInventory, n int) (res result, v localenv.Versions, err error) {
	run, err := benchutil.StartRun(ctx, benchutil.RunOptions{Label: fmt.Sprintf("run %d", n),
		DirPattern: fmt.Sprintf("lethe-bench-%d-", n), Keep: cfg.keep, MaxConnections: maxConnections, Namespace: namespace})
	if err != nil {
		return res, v, err
	}
	defer run.Finish(&err)
	v, c := run.Versions, run.Env.Client

	inv.Namespace = namespace
	if err := c.Create(ctx, inv); err != nil {
		return res, v, fmt.Errorf("create DataInventory: %w", err)
	}
	start := time.Now()
	names := benchutil.TenantNames(cfg.tenants)
	for j, name := range names {
		if _, err := run.Env.CreateTenant(ctx, namespace, name+"-db", name,
			sampleapp.Options{Seed: int64(j + 1), Customers: cfg.customers}); err != nil {
			return res, v, err
		}
	}
	benchutil.Progress("%s: %d tenant databases and Secrets created in %.1fs", run.Label, cfg.tenants, time.Since(start).Seconds())

	if err := run.StartManager(ctx, cfg.manager, cfg.managerArgs); err != nil {
		return res, v, err
	}
	// The DataInventory becoming Ready shows the manager is up and its
	// caches synced, so its start-up is not part of the measurement.
	if err := run.WaitFor(ctx, time.Minute, pollInterval, func() (bool, error) {
		return benchutil.Ready(ctx, c, inv)
	}); err != nil {
		return res, v, fmt.Errorf("DataInventory not Ready: %w", err)
	}
	// The API server sets up a custom resource's storage on its first
	// request (about 2 s on envtest): a dry-run create keeps that out too.
	if err := c.Create(ctx, tenantDatabase(names[0]), client.DryRunAll); err != nil {
		return res, v, fmt.Errorf("dry-run create of a TenantDatabase: %w", err)
	}

	// The measurement: create all at once, poll until all are Ready.
	t0 := time.Now()
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for j, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[j] = c.Create(ctx, tenantDatabase(name))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, v, fmt.Errorf("create TenantDatabases: %w", err)
	}
	benchutil.Progress("%s: %d TenantDatabases created in %.2fs; waiting until all are Ready", run.Label, len(names),
		time.Since(t0).Seconds())
	var ready int
	err = run.WaitFor(ctx, cfg.timeout, pollInterval, func() (bool, error) {
		n, err := benchutil.ReadyTenantDatabases(ctx, c, namespace)
		if err != nil {
			return false, err
		}
		ready = n
		return ready == len(names), nil
	})
	res.ready = time.Since(t0)
	if err != nil {
		return res, v, fmt.Errorf("%d of %d TenantDatabases Ready after %.1fs: %w%s", ready, len(names),
			res.ready.Seconds(), err, notReady(ctx, c))
	}
	res.rss, err = run.PeakRSS()
	return res, v, err
}

// tenantDatabase is the TenantDatabase of a tenant of the sample application
// in the tenants and dsr scenarios' namespace.
func tenantDatabase(name string) *privacyv1alpha1.TenantDatabase {
	return benchutil.TenantDatabase(namespace, name, "customer-service")
}

// notReady describes a few TenantDatabases that are not Ready.
func notReady(ctx context.Context, c client.Client) string {
	var list privacyv1alpha1.TenantDatabaseList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return ""
	}
	var b strings.Builder
	shown := 0
	for _, tdb := range list.Items {
		cond := meta.FindStatusCondition(tdb.Status.Conditions, privacyv1alpha1.ConditionReady)
		if cond != nil && cond.Status == metav1.ConditionTrue {
			continue
		}
		if shown == 5 {
			b.WriteString("\n  ...")
			break
		}
		shown++
		if cond == nil {
			fmt.Fprintf(&b, "\n  %s: no Ready condition", tdb.Name)
		} else {
			fmt.Fprintf(&b, "\n  %s: Ready=%s %s: %s", tdb.Name, cond.Status, cond.Reason, cond.Message)
		}
	}
	return b.String()
}

func formatTenantsReport(cfg config, started time.Time, v localenv.Versions, results []result) string {
	r := benchutil.NewReport("tenants", started)
	r.Versions(v, fmt.Sprintf("local, default durability settings, max_connections=%d", maxConnections))
	r.Printf("scenario:    %d TenantDatabases created at once in one namespace, each with its own database\n", cfg.tenants)
	r.Printf("             (sample application, %d customers) and connection Secret, one DataInventory;\n", cfg.customers)
	r.Printf("             timed from the first create until all report Ready=True (polled every %s);\n", pollInterval)
	r.Printf("             manager already running (DataInventory Ready), flags: %s\n", benchutil.ManagerFlags(cfg.managerArgs))
	r.Printf("runs:        %d, each in a fresh environment\n\n", len(results))

	secs := benchutil.Column(results, func(r result) float64 { return r.ready.Seconds() })
	t := r.TargetTable(28)
	t.Below("time to all Ready (s)", secs, targetReady.Seconds(), "s")
	t.Below("manager peak RSS (MiB)", benchutil.Column(results, func(r result) float64 { return benchutil.MiB(r.rss) }),
		benchutil.MiB(targetRSS), "MiB")
	_, med, _ := benchutil.Stats(secs)
	r.Printf("\nmedian time per tenant:     %.3f s (%d tenants)\n", med/float64(cfg.tenants), cfg.tenants)
	r.Printf("\nper run:\n")
	for i, x := range results {
		r.Printf("  run %d: %.2f s, %.1f MiB\n", i+1, x.ready.Seconds(), benchutil.MiB(x.rss))
	}
	return r.String()
}
