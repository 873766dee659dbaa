// Command bench runs Lethe's benchmarks on a local environment (a local
// PostgreSQL with its default durability settings and a local Kubernetes API
// server, see hack/internal/localenv) and writes the results to -out.
//
//	go run ./hack/bench -manager bin/manager -out bench/results [-tenants 50] [-runs 3]
//
// Scenario "tenants": N tenant databases, each with the sample application
// and its connection Secret, and one DataInventory exist; the manager runs;
// N TenantDatabases are created at once. Measured: the wall time from the
// first create until all N report Ready=True (polled every 100 ms), and the
// manager's peak resident set size (VmHWM) at that point. Each run starts from
// a fresh environment. Results go to <out>/tenants.txt and stdout; progress
// goes to stderr.
//
// Scenario "roles" is described in roles.go. -scenario picks one scenario;
// the default runs both.
//
// This is a measuring program, not a test: it reports targets as PASS or FAIL
// but exits 0 whenever it could measure.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/localenv"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

const (
	namespace     = "bench"
	inventoryFile = "config/samples/privacy_v1alpha1_datainventory.yaml"

	// Targets of the "tenants" scenario.
	targetReady = 15 * time.Second
	targetRSS   = 150 << 20

	pollInterval = 100 * time.Millisecond
)

type config struct {
	manager     string
	managerArgs []string
	out         string
	tenants     int
	runs        int
	customers   int
	timeout     time.Duration
	keep        bool
}

// result is one run's measurements.
type result struct {
	ready time.Duration
	rss   int64
}

// facts describe the environment of the runs.
type facts struct {
	kubernetes, postgres, etcd string
}

func main() {
	var cfg config
	var managerArgs string
	flag.StringVar(&cfg.manager, "manager", "bin/manager", "the manager binary (build it with `go build -o bin/manager .`)")
	flag.StringVar(&managerArgs, "manager-args", "", "extra flags for the manager, separated by spaces (default: none, the manager's defaults)")
	flag.StringVar(&cfg.out, "out", "bench/results", "directory the results are written to")
	flag.IntVar(&cfg.tenants, "tenants", 50, "number of TenantDatabases created at once")
	flag.IntVar(&cfg.runs, "runs", 3, "number of runs, each in a fresh environment")
	flag.IntVar(&cfg.customers, "customers", 20, "customers per tenant database (the sample application's size)")
	flag.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "how long one run may wait for every TenantDatabase to be Ready")
	flag.BoolVar(&cfg.keep, "keep", false, "keep each run's work directory (kubeconfig, logs)")
	scenario := flag.String("scenario", "all", "the scenario to run: tenants, roles or all")
	rolesCfg := registerRolesFlags()
	flag.Parse()
	cfg.managerArgs = strings.Fields(managerArgs)
	if cfg.tenants < 1 || cfg.runs < 1 || cfg.customers < 1 {
		fatalf("-tenants, -runs and -customers must be at least 1")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch *scenario {
	case "roles":
		runRolesScenario(ctx, cfg, rolesCfg)
		return
	case "tenants", "all":
	default:
		fatalf("-scenario must be tenants, roles or all")
	}

	started := time.Now()
	var (
		results []result
		env     facts
	)
	for i := 1; i <= cfg.runs; i++ {
		progress("run %d/%d: %d tenants", i, cfg.runs, cfg.tenants)
		r, f, err := runTenants(ctx, cfg, i)
		if err != nil {
			fatalf("run %d: %v", i, err)
		}
		progress("run %d/%d: all %d Ready after %.2fs, manager peak RSS %.1f MiB", i, cfg.runs, cfg.tenants,
			r.ready.Seconds(), mib(r.rss))
		results = append(results, r)
		env = f
	}

	report := formatReport(cfg, started, env, results)
	if err := os.MkdirAll(cfg.out, 0o750); err != nil {
		fatalf("%v", err)
	}
	path := filepath.Join(cfg.out, "tenants.txt")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(report), 0o644); err != nil { // #nosec G306 -- a results file meant to be read
		fatalf("%v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		fatalf("%v", err)
	}
	fmt.Print(report)
	progress("written to %s", path)
	if *scenario == "all" {
		runRolesScenario(ctx, cfg, rolesCfg)
	}
}

// runTenants is one run of the "tenants" scenario in a fresh environment.
func runTenants(ctx context.Context, cfg config, run int) (res result, f facts, err error) {
	dir, err := os.MkdirTemp("", fmt.Sprintf("lethe-bench-%d-", run))
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
		if err != nil && mgr != nil {
			secret := ""
			if env != nil && env.Postgres != nil {
				secret = env.Postgres.AppPassword
			}
			if tail, terr := localenv.TailFile(mgr.LogPath, 40, secret); terr == nil {
				fmt.Fprintf(os.Stderr, "--- last 40 lines of the manager log ---\n%s\n--- end ---\n", tail)
			}
		}
		if err != nil || cfg.keep {
			progress("run %d: work directory kept: %s", run, dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()

	start := time.Now()
	env, err = localenv.Start(ctx, localenv.Options{Dir: dir, DurablePostgres: true, MaxConnections: 400})
	if err != nil {
		return res, f, err
	}
	v, err := env.ServerVersions(ctx)
	if err != nil {
		return res, f, err
	}
	f = facts{kubernetes: v.Kubernetes, postgres: v.PostgreSQL, etcd: etcdVersion(env.AssetsDir)}
	progress("run %d: PostgreSQL and the API server up in %.1fs", run, time.Since(start).Seconds())

	c := env.Client
	if err := env.EnsureNamespace(ctx, namespace); err != nil {
		return res, f, err
	}
	inv, err := readInventory(filepath.Join(env.RepoRoot, inventoryFile))
	if err != nil {
		return res, f, err
	}
	inv.Namespace = namespace
	if err := c.Create(ctx, inv); err != nil {
		return res, f, fmt.Errorf("create DataInventory: %w", err)
	}

	start = time.Now()
	names := make([]string, cfg.tenants)
	for i := range names {
		names[i] = fmt.Sprintf("tenant-%03d", i+1)
		if _, err := env.CreateTenant(ctx, namespace, names[i]+"-db", names[i],
			sampleapp.Options{Seed: int64(i + 1), Customers: cfg.customers}); err != nil {
			return res, f, err
		}
	}
	progress("run %d: %d tenant databases and Secrets created in %.1fs", run, cfg.tenants, time.Since(start).Seconds())

	mgr, err = env.StartManager(ctx, cfg.manager, cfg.managerArgs...)
	if err != nil {
		return res, f, err
	}
	// The DataInventory becoming Ready shows the manager is up and its
	// caches synced, so its start-up is not part of the measurement.
	if err := waitFor(ctx, mgr, time.Minute, func() (bool, error) {
		var got privacyv1alpha1.DataInventory
		if err := c.Get(ctx, client.ObjectKeyFromObject(inv), &got); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(got.Status.Conditions, privacyv1alpha1.ConditionReady), nil
	}); err != nil {
		return res, f, fmt.Errorf("DataInventory not Ready: %w", err)
	}
	// The API server sets up a custom resource's storage on its first
	// request (about 2 s on envtest): a dry-run create keeps that out too.
	if err := c.Create(ctx, tenantDatabase(names[0]), client.DryRunAll); err != nil {
		return res, f, fmt.Errorf("dry-run create of a TenantDatabase: %w", err)
	}

	// The measurement: create all at once, poll until all are Ready.
	t0 := time.Now()
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Create(ctx, tenantDatabase(name))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, f, fmt.Errorf("create TenantDatabases: %w", err)
	}
	progress("run %d: %d TenantDatabases created in %.2fs; waiting until all are Ready", run, len(names),
		time.Since(t0).Seconds())
	var ready int
	err = waitFor(ctx, mgr, cfg.timeout, func() (bool, error) {
		var list privacyv1alpha1.TenantDatabaseList
		if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return false, err
		}
		ready = 0
		for i := range list.Items {
			if meta.IsStatusConditionTrue(list.Items[i].Status.Conditions, privacyv1alpha1.ConditionReady) {
				ready++
			}
		}
		return ready == len(names), nil
	})
	res.ready = time.Since(t0)
	if err != nil {
		return res, f, fmt.Errorf("%d of %d TenantDatabases Ready after %.1fs: %w%s", ready, len(names),
			res.ready.Seconds(), err, notReady(ctx, c))
	}
	if res.rss, err = mgr.PeakRSS(); err != nil {
		return res, f, fmt.Errorf("peak RSS: %w", err)
	}
	return res, f, nil
}

func tenantDatabase(name string) *privacyv1alpha1.TenantDatabase {
	return &privacyv1alpha1.TenantDatabase{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: privacyv1alpha1.TenantDatabaseSpec{
			Tenant: name,
			Connection: privacyv1alpha1.ConnectionSpec{
				SecretRef: privacyv1alpha1.LocalObjectReference{Name: name + "-db"},
			},
			InventoryRef: privacyv1alpha1.LocalObjectReference{Name: "customer-service"},
		},
	}
}

func readInventory(path string) (*privacyv1alpha1.DataInventory, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- a file of the repository
	if err != nil {
		return nil, err
	}
	var inv privacyv1alpha1.DataInventory
	if err := yaml.UnmarshalStrict(b, &inv); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if inv.Kind != "DataInventory" || inv.Name == "" {
		return nil, fmt.Errorf("%s: not a named DataInventory", path)
	}
	return &inv, nil
}

// waitFor polls cond every pollInterval until it holds, the timeout passes,
// ctx ends or the manager exits.
func waitFor(ctx context.Context, mgr *localenv.Manager, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
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
			if lastErr != nil {
				return fmt.Errorf("timed out after %s: %w", timeout, lastErr)
			}
			return fmt.Errorf("timed out after %s", timeout)
		case <-tick.C:
		}
	}
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

func formatReport(cfg config, started time.Time, env facts, results []result) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	args := "defaults"
	if len(cfg.managerArgs) > 0 {
		args = strings.Join(cfg.managerArgs, " ")
	}
	w("Lethe benchmark: tenants\n\n")
	w("date:        %s\n", started.UTC().Format(time.RFC3339))
	w("machine:     %s; %s; %d cores; %.1f GiB memory\n", uname(), cpuModel(), runtime.NumCPU(), float64(memTotal())/(1<<30))
	w("go:          %s\n", runtime.Version())
	w("postgresql:  %s (local, default durability settings, max_connections=400)\n", env.postgres)
	w("kubernetes:  %s (envtest kube-apiserver, etcd %s)\n", env.kubernetes, env.etcd)
	w("scenario:    %d TenantDatabases created at once in one namespace, each with its own database\n", cfg.tenants)
	w("             (sample application, %d customers) and connection Secret, one DataInventory;\n", cfg.customers)
	w("             timed from the first create until all report Ready=True (polled every %s);\n", pollInterval)
	w("             manager already running (DataInventory Ready), flags: %s\n", args)
	w("runs:        %d, each in a fresh environment\n\n", len(results))

	secs := make([]float64, len(results))
	mibs := make([]float64, len(results))
	for i, r := range results {
		secs[i], mibs[i] = r.ready.Seconds(), mib(r.rss)
	}
	w("%-28s %8s %8s %8s %10s  %s\n", "figure", "min", "median", "max", "target", "result")
	row := func(name string, vals []float64, target float64, unit string) {
		lo, med, hi := stats(vals)
		verdict := "PASS"
		if med >= target {
			verdict = "FAIL"
		}
		w("%-28s %8.2f %8.2f %8.2f %10s  %s (median)\n", name, lo, med, hi, fmt.Sprintf("< %g %s", target, unit), verdict)
	}
	row("time to all Ready (s)", secs, targetReady.Seconds(), "s")
	row("manager peak RSS (MiB)", mibs, mib(targetRSS), "MiB")
	_, med, _ := stats(secs)
	w("\nmedian time per tenant:     %.3f s (%d tenants)\n", med/float64(cfg.tenants), cfg.tenants)
	w("\nper run:\n")
	for i, r := range results {
		w("  run %d: %.2f s, %.1f MiB\n", i+1, r.ready.Seconds(), mib(r.rss))
	}
	return b.String()
}

// stats returns the minimum, median and maximum.
func stats(vals []float64) (lo, med, hi float64) {
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return s[0], med, s[n-1]
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func uname() string {
	out, err := exec.Command("uname", "-srm").Output()
	if err != nil {
		return runtime.GOOS + " " + runtime.GOARCH
	}
	return strings.TrimSpace(string(out))
}

func cpuModel() string {
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		return v
	}
	return "unknown CPU"
}

func memTotal() int64 {
	f := strings.Fields(procField("/proc/meminfo", "MemTotal"))
	if len(f) == 0 {
		return 0
	}
	kb, _ := strconv.ParseInt(f[0], 10, 64)
	return kb * 1024
}

// procField is the value of the first "key: value" line with the key.
func procField(path, key string) string {
	fh, err := os.Open(path) // #nosec G304 -- fixed /proc paths
	if err != nil {
		return ""
	}
	defer func() { _ = fh.Close() }()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// etcdVersion asks the etcd binary for its version ("3.7.3").
func etcdVersion(assets string) string {
	out, err := exec.Command(filepath.Join(assets, "etcd"), "--version").Output() // #nosec G204 -- the envtest etcd
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "etcd Version: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}
