// Command benchdsr benchmarks DataSubjectRequests on a local environment (a
// local PostgreSQL with its default durability settings and, for the API
// figure, a local Kubernetes API server; see hack/internal/localenv) and
// writes the results to -out.
//
//	go run ./hack/benchdsr -manager bin/manager -out bench/results \
//		[-subjects 100000] [-samples 300] [-requests 1000] [-runs 3]
//
// Engine figures: one tenant database holds the sample application at
// -subjects customers (seed 1), with the lethe schema migrated. For -samples
// customers per run, spread over the id range, it times internal/dsr.Execute
// as the DataSubjectRequest controller calls it for one target: an Access
// request plus export.Build of the rows it read ("access export"), and, for
// other customers, an Erasure request with the Anonymize method ("engine
// erasure"; the controller's verification re-scan is timed apart, for a few
// subjects). Every run measures different customers in the same database.
//
// API figure: per run, a fresh environment with two tenant databases (the
// sample application at a small size), the sample DataInventory and the
// manager binary; -requests approved Erasure requests, each about a
// different customer of one tenant and targeting both, are created at once.
// Measured: the wall time from the first create until all report phase
// Completed (polled every 250 ms), and the manager's peak resident set size.
//
// To say where the time goes, the report also breaks the engine's time down
// by statement kind (a pgx tracer on the pool), and for the API figure lists
// the CPU time of each process, the API server's requests by kind (its
// apiserver_request_duration_seconds metric) and a sampled profile of the
// manager's PostgreSQL sessions (pg_stat_activity every 20 ms).
//
// Results go to <out>/dsr.txt and stdout; progress goes to stderr. This is a
// measuring program, not a test: it reports targets as PASS or FAIL but exits
// 0 whenever it could measure.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/localenv"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/dsr"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/export"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

const (
	namespace     = "bench"
	inventoryFile = "config/samples/privacy_v1alpha1_datainventory.yaml"
	subjectType   = "customer"
	benchActor    = "lethe-benchmark"

	// Targets.
	targetErasureP99 = 10 * time.Millisecond
	targetExportP99  = 5 * time.Millisecond
	targetRequests   = 20 * time.Second

	// The API figure's environment.
	apiCustomers      = 1500 // customers per tenant database
	apiMaxConnections = 200
	apiWorkers        = 24 // goroutines creating the requests
	pollInterval      = 250 * time.Millisecond
	readyPoll         = 100 * time.Millisecond

	// poolConns is the pool size of the engine figures: the TenantDatabase
	// default of spec.maxConnections.
	poolConns = 4
	// warmups is how many requests run before the first measured one.
	warmups = 10
)

// tenants of the API figure: the requests are about customers of the first.
var apiTenants = []struct {
	name string
	seed int64
}{{"acme", 1}, {"globex", 2}}

type config struct {
	manager       string
	out           string
	subjects      int
	samples       int
	requests      int
	runs          int
	verifySamples int
	timeout       time.Duration
	keep          bool
}

// engineRun is one run of the engine figures, in milliseconds.
type engineRun struct {
	access, erasure []float64
	verify          []float64
	// rows exported per access, found and changed per erasure (sums).
	exported, found, changed int64
	unverified               int
}

// engineResult is every engine run plus the database it ran on.
type engineResult struct {
	runs     []engineRun
	rows     int64 // rows in the application's tables
	tables   int
	loadTime time.Duration
	postgres string
	trace    *sqlTracer
	// roundTrip is the median time of `SELECT 1` on the pool, in ms.
	roundTrip float64
}

// apiRun is one run of the API figure.
type apiRun struct {
	completed time.Duration
	created   time.Duration
	rss       int64
	verified  int
	changed   int64
	// cpu is the CPU time each process group used during the measurement.
	cpu map[string]time.Duration
	// sessions is the mean number of the manager's PostgreSQL sessions in
	// each state over the measurement.
	sessions map[string]float64
	// done holds when each request was first seen Completed, sorted.
	done []time.Duration
	// apiserver is what the API server served during the measurement.
	apiserver map[string]apiStat
}

// facts describe the environment of the API runs.
type facts struct {
	kubernetes, postgres, etcd string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.manager, "manager", "bin/manager", "the manager binary (build it with `go build -o bin/manager .`)")
	flag.StringVar(&cfg.out, "out", "bench/results", "directory the results are written to")
	flag.IntVar(&cfg.subjects, "subjects", 100000, "customers in the engine figures' database (the sample application's size)")
	flag.IntVar(&cfg.samples, "samples", 300, "customers measured per engine figure and run")
	flag.IntVar(&cfg.requests, "requests", 1000, "Erasure requests created at once in the API figure")
	flag.IntVar(&cfg.runs, "runs", 3, "number of runs (the API figure starts each in a fresh environment)")
	flag.IntVar(&cfg.verifySamples, "verify-samples", 5, "erased customers whose verification re-scan is timed, per run")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "how long one API run may wait for every request to be Completed")
	flag.BoolVar(&cfg.keep, "keep", false, "keep each run's work directory (kubeconfig, logs)")
	flag.Parse()
	if cfg.samples < 1 || cfg.requests < 1 || cfg.runs < 1 || cfg.verifySamples < 0 {
		fatalf("-samples, -requests and -runs must be at least 1, -verify-samples at least 0")
	}
	if cfg.subjects > sampleapp.MaxCustomers || cfg.subjects < cfg.samples*slots(cfg.runs) {
		fatalf("-subjects must be between -samples × %d (%d) and %d", slots(cfg.runs), cfg.samples*slots(cfg.runs),
			sampleapp.MaxCustomers)
	}
	cfg.verifySamples = min(cfg.verifySamples, cfg.samples)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	loadBefore := loadAverage()

	inv, err := readInventory()
	if err != nil {
		fatalf("%v", err)
	}
	eng, err := runEngine(ctx, cfg, &inv.Spec)
	if err != nil {
		fatalf("engine figures: %v", err)
	}

	var (
		apiRuns []apiRun
		env     facts
	)
	for i := 1; i <= cfg.runs; i++ {
		progress("API run %d/%d: %d Erasure requests", i, cfg.runs, cfg.requests)
		r, f, err := runAPI(ctx, cfg, inv, i)
		if err != nil {
			fatalf("API run %d: %v", i, err)
		}
		progress("API run %d/%d: all %d Completed after %.2fs, manager peak RSS %.1f MiB", i, cfg.runs, cfg.requests,
			r.completed.Seconds(), mib(r.rss))
		apiRuns, env = append(apiRuns, r), f
	}

	report := formatReport(cfg, started, [2]string{loadBefore, loadAverage()}, env, eng, apiRuns)
	if err := os.MkdirAll(cfg.out, 0o750); err != nil {
		fatalf("%v", err)
	}
	path := filepath.Join(cfg.out, "dsr.txt")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(report), 0o644); err != nil { // #nosec G306 -- a results file meant to be read
		fatalf("%v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		fatalf("%v", err)
	}
	fmt.Print(report)
	progress("written to %s", path)
}

// slots is how many customers each sample position provides: one for access
// and one for erasure per run, and one for the warm-up.
func slots(runs int) int { return 2*runs + 1 }

// customerID picks the customer of sample i in a slot: the id range is cut
// into -samples blocks, each block into slots; every (slot, sample) pair
// gets its own customer.
func customerID(cfg config, slot, i int) int64 {
	block := cfg.subjects / cfg.samples
	return int64(i*block + slot*(block/slots(cfg.runs)) + 1)
}

// runEngine measures dsr.Execute on one database with the sample
// application at cfg.subjects customers.
func runEngine(ctx context.Context, cfg config, spec *privacyv1alpha1.DataInventorySpec) (res engineResult, err error) {
	dir, err := os.MkdirTemp("", "lethe-benchdsr-engine-")
	if err != nil {
		return res, err
	}
	var srv *pgtest.Server
	pools := tenantdb.NewPools()
	defer func() {
		pools.CloseAll()
		if srv != nil {
			if serr := srv.Stop(); serr != nil && err == nil {
				err = serr
			}
		}
		if err != nil || cfg.keep {
			progress("engine: work directory kept: %s", dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()

	if srv, err = pgtest.Start(pgtest.Options{Durable: true, LogPath: filepath.Join(dir, "postgres.log")}); err != nil {
		return res, fmt.Errorf("start PostgreSQL: %w", err)
	}
	db, err := srv.CreateDatabase(ctx, "acme")
	if err != nil {
		return res, err
	}
	progress("engine: loading the sample application with %d customers", cfg.subjects)
	start := time.Now()
	conn, err := srv.AppConn(ctx, db)
	if err != nil {
		return res, err
	}
	err = sampleapp.Load(ctx, conn, sampleapp.Options{Tenant: "acme", Seed: 1, Customers: cfg.subjects})
	_ = conn.Close(context.Background())
	if err != nil {
		return res, err
	}
	res.loadTime = time.Since(start)
	runtime.GC() // the generated rows are garbage now
	progress("engine: loaded in %.1fs", res.loadTime.Seconds())

	pcfg, err := tenantdb.ParseSecret(db.SecretData(), poolConns)
	if err != nil {
		return res, err
	}
	res.trace = newSQLTracer()
	pcfg.Pool.ConnConfig.Tracer = res.trace
	pool, err := pools.Get(ctx, "bench/acme", pcfg)
	if err != nil {
		return res, err
	}
	if _, _, err := tenantdb.Migrate(ctx, pool); err != nil {
		return res, err
	}
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&res.postgres); err != nil {
		return res, err
	}
	for _, t := range sampleapp.Tables() {
		var n int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil { // #nosec G202 -- a fixed table name
			return res, err
		}
		res.rows += n
		res.tables++
	}

	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return res, err
	}
	b := &engineBench{pool: pool, spec: spec, salt: salt}

	// Warm-up: connections opened, statements prepared, caches filled.
	for i := range min(warmups, cfg.samples) {
		email, err := b.email(ctx, customerID(cfg, slots(cfg.runs)-1, i))
		if err != nil {
			return res, err
		}
		if i%2 == 0 {
			_, _, err = b.access(ctx, fmt.Sprintf("warmup-%d", i), email)
		} else {
			_, _, _, err = b.erase(ctx, fmt.Sprintf("warmup-%d", i), email)
		}
		if err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
	}

	// The floor under every statement: one round trip to the server.
	var trips []float64
	for range 200 {
		start := time.Now()
		if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
			return res, err
		}
		trips = append(trips, ms(time.Since(start)))
	}
	res.roundTrip = percentile(trips, 50)

	for run := 1; run <= cfg.runs; run++ {
		r := engineRun{}
		var erased []string
		for i := range cfg.samples {
			accessEmail, err := b.email(ctx, customerID(cfg, 2*(run-1), i))
			if err != nil {
				return res, err
			}
			eraseEmail, err := b.email(ctx, customerID(cfg, 2*(run-1)+1, i))
			if err != nil {
				return res, err
			}
			res.trace.setLabel("access")
			d, rows, err := b.access(ctx, fmt.Sprintf("run%d-access-%d", run, i), accessEmail)
			if err != nil {
				return res, fmt.Errorf("run %d, access %d: %w", run, i, err)
			}
			r.access, r.exported = append(r.access, ms(d)), r.exported+rows
			res.trace.setLabel("erasure")
			d, found, changed, err := b.erase(ctx, fmt.Sprintf("run%d-erasure-%d", run, i), eraseEmail)
			res.trace.setLabel("")
			if err != nil {
				return res, fmt.Errorf("run %d, erasure %d: %w", run, i, err)
			}
			r.erasure, r.found, r.changed = append(r.erasure, ms(d)), r.found+found, r.changed+changed
			erased = append(erased, eraseEmail)
		}
		// The verification re-scans read every inventory table: they run
		// after the timed requests, so they do not disturb them.
		for _, email := range erased[:cfg.verifySamples] {
			start := time.Now()
			remaining, err := dsr.Verify(ctx, pool, spec, map[string]string{"email": email})
			if err != nil {
				return res, fmt.Errorf("run %d, verification: %w", run, err)
			}
			r.verify = append(r.verify, ms(time.Since(start)))
			if len(remaining) > 0 {
				r.unverified++
			}
		}
		res.runs = append(res.runs, r)
		progress("engine run %d/%d: access export p50 %.2f ms p99 %.2f ms; engine erasure p50 %.2f ms p99 %.2f ms; verification scan p50 %.0f ms",
			run, cfg.runs, percentile(r.access, 50), percentile(r.access, 99), percentile(r.erasure, 50),
			percentile(r.erasure, 99), percentile(r.verify, 50))
	}
	return res, nil
}

// engineBench runs requests against one tenant database the way the
// DataSubjectRequest controller does for one target.
type engineBench struct {
	pool *pgxpool.Pool
	spec *privacyv1alpha1.DataInventorySpec
	salt []byte
}

func (b *engineBench) email(ctx context.Context, id int64) (string, error) {
	var email string
	if err := b.pool.QueryRow(ctx, "SELECT email FROM app.customers WHERE id = $1", id).Scan(&email); err != nil {
		return "", fmt.Errorf("customer %d: %w", id, err)
	}
	return email, nil
}

// input is the controller's dsr.Input for a request about the customer.
func (b *engineBench) input(uid string, typ privacyv1alpha1.RequestType, email string) *dsr.Input {
	ids := map[string]string{"email": email}
	return &dsr.Input{
		Run: engine.Run{
			UID: uid, Type: string(typ), SubjectType: subjectType,
			SubjectDigest: dsr.Digest(b.salt, subjectType, ids), Actor: benchActor,
			Object: audit.Object{Kind: "DataSubjectRequest", Namespace: namespace, Name: uid, UID: uid},
			Clock:  time.Now,
		},
		Type: typ, Tenant: "acme", Inventory: b.spec, Identifiers: ids,
		Method: privacyv1alpha1.ErasureAnonymize, Salt: b.salt,
	}
}

// access times an Access request and the package built from its rows.
func (b *engineBench) access(ctx context.Context, uid, email string) (time.Duration, int64, error) {
	in := b.input(uid, privacyv1alpha1.RequestAccess, email)
	start := time.Now()
	out, err := dsr.Execute(ctx, b.pool, in)
	if err != nil {
		return 0, 0, err
	}
	if _, _, err := export.Build(in.Run.SubjectDigest, time.Now(), out.Export); err != nil {
		return 0, 0, err
	}
	d := time.Since(start)
	if len(out.RootKeys) != 1 {
		return 0, 0, fmt.Errorf("access found %d customers, want 1", len(out.RootKeys))
	}
	var rows int64
	for _, t := range out.Export {
		rows += int64(len(t.Rows))
	}
	return d, rows, nil
}

// erase times an Erasure request, without the verification re-scan.
func (b *engineBench) erase(ctx context.Context, uid, email string) (d time.Duration, found, changed int64, err error) {
	in := b.input(uid, privacyv1alpha1.RequestErasure, email)
	start := time.Now()
	out, err := dsr.Execute(ctx, b.pool, in)
	if err != nil {
		return 0, 0, 0, err
	}
	d = time.Since(start)
	if len(out.RootKeys) != 1 {
		return 0, 0, 0, fmt.Errorf("erasure found %d customers, want 1", len(out.RootKeys))
	}
	for _, e := range out.Entities {
		found += e.Found
		changed += e.Changed
	}
	if changed == 0 {
		return 0, 0, 0, errors.New("erasure changed no row")
	}
	return d, found, changed, nil
}

// runAPI is one run of the API figure in a fresh environment.
func runAPI(ctx context.Context, cfg config, inv *privacyv1alpha1.DataInventory, run int) (res apiRun, f facts, err error) {
	dir, err := os.MkdirTemp("", fmt.Sprintf("lethe-benchdsr-%d-", run))
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
			progress("API run %d: work directory kept: %s", run, dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}()

	start := time.Now()
	env, err = localenv.Start(ctx, localenv.Options{Dir: dir, DurablePostgres: true, MaxConnections: apiMaxConnections})
	if err != nil {
		return res, f, err
	}
	v, err := env.ServerVersions(ctx)
	if err != nil {
		return res, f, err
	}
	f = facts{kubernetes: v.Kubernetes, postgres: v.PostgreSQL, etcd: etcdVersion(env.AssetsDir)}
	progress("API run %d: PostgreSQL and the API server up in %.1fs", run, time.Since(start).Seconds())

	c := env.Client
	if err := env.EnsureNamespace(ctx, namespace); err != nil {
		return res, f, err
	}
	inv = inv.DeepCopy()
	inv.Namespace = namespace
	if err := c.Create(ctx, inv); err != nil {
		return res, f, fmt.Errorf("create DataInventory: %w", err)
	}
	customers := max(apiCustomers, cfg.requests)
	var emails []string
	for i, t := range apiTenants {
		db, err := env.CreateTenant(ctx, namespace, t.name+"-db", t.name, sampleapp.Options{Seed: t.seed, Customers: customers})
		if err != nil {
			return res, f, err
		}
		if i == 0 {
			if emails, err = customerEmails(ctx, env, db, cfg.requests); err != nil {
				return res, f, err
			}
		}
		if err := c.Create(ctx, tenantDatabase(t.name)); err != nil {
			return res, f, fmt.Errorf("create TenantDatabase %s: %w", t.name, err)
		}
	}

	mgr, err = env.StartManager(ctx, cfg.manager)
	if err != nil {
		return res, f, err
	}
	// The manager is up, its caches synced and both targets usable, so its
	// start-up is not part of the measurement.
	if err := waitFor(ctx, mgr, 2*time.Minute, readyPoll, func() (bool, error) {
		var got privacyv1alpha1.DataInventory
		if err := c.Get(ctx, client.ObjectKeyFromObject(inv), &got); err != nil {
			return false, err
		}
		if !meta.IsStatusConditionTrue(got.Status.Conditions, privacyv1alpha1.ConditionReady) {
			return false, nil
		}
		for _, t := range apiTenants {
			var tdb privacyv1alpha1.TenantDatabase
			if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: t.name}, &tdb); err != nil {
				return false, err
			}
			if !meta.IsStatusConditionTrue(tdb.Status.Conditions, privacyv1alpha1.ConditionReady) {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return res, f, fmt.Errorf("DataInventory and TenantDatabases not Ready: %w", err)
	}
	// The API server sets up a custom resource's storage on its first
	// request: a dry-run create keeps that out of the measurement.
	if err := c.Create(ctx, erasureRequest(0, emails[0]), client.DryRunAll); err != nil {
		return res, f, fmt.Errorf("dry-run create of a DataSubjectRequest: %w", err)
	}

	// The measurement: create all at once, poll until all are Completed.
	cpuBefore := processCPU(mgr.Pid())
	sampler, err := startSessionSampler(ctx, env.Postgres)
	if err != nil {
		return res, f, err
	}
	apiBefore, err := apiServerRequests(ctx, env)
	if err != nil {
		return res, f, err
	}
	t0 := time.Now()
	work := make(chan int)
	errs := make([]error, cfg.requests)
	var wg sync.WaitGroup
	for range apiWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				errs[i] = c.Create(ctx, erasureRequest(i, emails[i]))
			}
		}()
	}
	for i := range cfg.requests {
		work <- i
	}
	close(work)
	wg.Wait()
	res.created = time.Since(t0)
	if err := errors.Join(errs...); err != nil {
		return res, f, fmt.Errorf("create DataSubjectRequests: %w", err)
	}
	progress("API run %d: %d requests created in %.2fs; waiting until all are Completed", run, cfg.requests,
		res.created.Seconds())

	var completed, failed int
	var last *privacyv1alpha1.DataSubjectRequestList
	seen := map[string]bool{}
	err = waitFor(ctx, mgr, cfg.timeout, pollInterval, func() (bool, error) {
		var list privacyv1alpha1.DataSubjectRequestList
		if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return false, err
		}
		at := time.Since(t0)
		completed, failed = 0, 0
		for i := range list.Items {
			switch list.Items[i].Status.Phase {
			case privacyv1alpha1.PhaseCompleted:
				completed++
				if !seen[list.Items[i].Name] {
					seen[list.Items[i].Name] = true
					res.done = append(res.done, at)
				}
			case privacyv1alpha1.PhaseFailed:
				failed++
			}
		}
		last = &list
		if failed > 0 {
			return false, fmt.Errorf("%d requests Failed", failed)
		}
		return completed == cfg.requests, nil
	})
	res.completed = time.Since(t0)
	res.cpu = cpuUsed(cpuBefore, processCPU(mgr.Pid()))
	res.sessions = sampler.stop()
	if apiAfter, aerr := apiServerRequests(ctx, env); aerr == nil {
		res.apiserver = map[string]apiStat{}
		for k, a := range apiAfter {
			b := apiBefore[k]
			if d := (apiStat{count: a.count - b.count, seconds: a.seconds - b.seconds}); d.count > 0 {
				res.apiserver[k] = d
			}
		}
	}
	if err != nil {
		return res, f, fmt.Errorf("%d of %d requests Completed after %.1fs: %w%s", completed, cfg.requests,
			res.completed.Seconds(), err, notCompleted(last))
	}
	if res.rss, err = mgr.PeakRSS(); err != nil {
		return res, f, fmt.Errorf("peak RSS: %w", err)
	}
	for i := range last.Items {
		if meta.IsStatusConditionTrue(last.Items[i].Status.Conditions, privacyv1alpha1.ConditionVerified) {
			res.verified++
		}
		for _, t := range last.Items[i].Status.Targets {
			for _, e := range t.Entities {
				res.changed += e.Changed
			}
		}
	}
	return res, f, nil
}

// clockTicks is USER_HZ, the unit of CPU times in /proc (100 on Linux).
const clockTicks = 100

// procCPU is one process's CPU time so far and the group it is counted in.
type procCPU struct {
	group string
	ticks int64
}

// processCPU reads the CPU time (user and system) of this process and all
// its descendants, grouped: the manager (and its children), PostgreSQL (the
// server and its backends), kube-apiserver, etcd, and this benchmark.
func processCPU(managerPid int) map[int]procCPU {
	type proc struct {
		ppid  int
		comm  string
		ticks int64
	}
	procs := map[int]proc{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")) // #nosec G304 -- /proc
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ... utime stime ...": comm may hold spaces.
		open, closing := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if open < 0 || closing < open {
			continue
		}
		f := strings.Fields(string(b[closing+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid: ppid, comm: string(b[open+1 : closing]), ticks: utime + stime}
	}
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	out := map[int]procCPU{}
	var walk func(pid int, group string)
	walk = func(pid int, group string) {
		p := procs[pid]
		switch {
		case pid == os.Getpid():
			group = "benchmark (creating, polling)"
		case pid == managerPid:
			group = "manager"
		case group == "" || group == "benchmark (creating, polling)":
			group = p.comm
		}
		out[pid] = procCPU{group: group, ticks: p.ticks}
		for _, c := range children[pid] {
			walk(c, group)
		}
	}
	walk(os.Getpid(), "")
	return out
}

// cpuUsed is the CPU time used per group between two readings; processes
// that ended in between are not counted.
func cpuUsed(before, after map[int]procCPU) map[string]time.Duration {
	used := map[string]time.Duration{}
	for pid, a := range after {
		d := a.ticks - before[pid].ticks
		if d < 0 {
			d = a.ticks // the pid was reused
		}
		used[a.group] += time.Duration(d) * time.Second / clockTicks
	}
	return used
}

// sessionSampler samples pg_stat_activity for the manager's sessions (its
// application_name) every sessionSampleInterval: a profile of the database
// side by state, statement kind of the active sessions, and wait event.
type sessionSampler struct {
	cancel  context.CancelFunc
	done    chan struct{}
	samples int
	counts  map[string]int
}

const sessionSampleInterval = 20 * time.Millisecond

func startSessionSampler(ctx context.Context, srv *pgtest.Server) (*sessionSampler, error) {
	conn, err := pgx.Connect(ctx, srv.AdminDSN("postgres"))
	if err != nil {
		return nil, fmt.Errorf("connect the session sampler: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &sessionSampler{cancel: cancel, done: make(chan struct{}), counts: map[string]int{}}
	go func() {
		defer close(s.done)
		defer func() { _ = conn.Close(context.Background()) }()
		tick := time.NewTicker(sessionSampleInterval)
		defer tick.Stop()
		for {
			rows, err := conn.Query(ctx, `SELECT coalesce(state, 'unknown'), coalesce(wait_event_type || '/' || wait_event, ''), query
				FROM pg_catalog.pg_stat_activity WHERE application_name = 'lethe-operator'`)
			if err == nil {
				type session struct{ state, wait, query string }
				var sessions []session
				sessions, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (session, error) {
					var x session
					err := row.Scan(&x.state, &x.wait, &x.query)
					return x, err
				})
				if err == nil {
					s.samples++
					for _, x := range sessions {
						if x.state != "active" {
							s.counts[x.state]++
							continue
						}
						s.counts["active: "+statementKind(x.query)]++
						if x.wait != "" {
							s.counts["waiting: "+x.wait]++
						}
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return s, nil
}

// stop ends the sampling and returns the mean number of sessions per state.
func (s *sessionSampler) stop() map[string]float64 {
	s.cancel()
	<-s.done
	out := map[string]float64{}
	if s.samples == 0 {
		return out
	}
	for st, n := range s.counts {
		out[st] = float64(n) / float64(s.samples)
	}
	return out
}

// apiStat is how many requests of one kind the API server served and how
// long they took in total.
type apiStat struct {
	count, seconds float64
}

var metricLabel = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// apiServerRequests reads the API server's apiserver_request_duration_seconds
// histogram, by "VERB resource[/subresource]".
func apiServerRequests(ctx context.Context, env *localenv.Env) (map[string]apiStat, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		return nil, err
	}
	raw, err := dc.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("API server metrics: %w", err)
	}
	out := map[string]apiStat{}
	for _, line := range strings.Split(string(raw), "\n") {
		const name = "apiserver_request_duration_seconds_"
		rest, ok := strings.CutPrefix(line, name)
		if !ok {
			continue
		}
		isSum, isCount := strings.HasPrefix(rest, "sum{"), strings.HasPrefix(rest, "count{")
		end := strings.LastIndexByte(rest, '}')
		if !isSum && !isCount || end < 0 {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest[end+1:]), 64)
		if err != nil {
			continue
		}
		labels := map[string]string{}
		for _, m := range metricLabel.FindAllStringSubmatch(rest[:end], -1) {
			labels[m[1]] = m[2]
		}
		if labels["resource"] == "" {
			continue
		}
		key := labels["verb"] + " " + labels["resource"]
		if sub := labels["subresource"]; sub != "" {
			key += "/" + sub
		}
		st := out[key]
		if isSum {
			st.seconds += v
		} else {
			st.count += v
		}
		out[key] = st
	}
	return out, nil
}

// customerEmails reads the e-mails of the first n customers of a tenant.
func customerEmails(ctx context.Context, env *localenv.Env, db pgtest.Database, n int) ([]string, error) {
	conn, err := env.Postgres.AppConn(ctx, db)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	rows, err := conn.Query(ctx, "SELECT email FROM app.customers ORDER BY id LIMIT $1", n)
	if err != nil {
		return nil, err
	}
	emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if len(emails) != n {
		return nil, fmt.Errorf("database %s has %d customers, want %d", db.Name, len(emails), n)
	}
	return emails, nil
}

func erasureRequest(i int, email string) *privacyv1alpha1.DataSubjectRequest {
	names := make([]string, len(apiTenants))
	for j, t := range apiTenants {
		names[j] = t.name
	}
	return &privacyv1alpha1.DataSubjectRequest{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("erase-%05d", i), Namespace: namespace},
		Spec: privacyv1alpha1.DataSubjectRequestSpec{
			Type:     privacyv1alpha1.RequestErasure,
			Subject:  privacyv1alpha1.RequestSubject{Type: subjectType, Identifiers: map[string]string{"email": email}},
			Targets:  privacyv1alpha1.Targets{Names: names},
			Approval: &privacyv1alpha1.Approval{Approved: true},
		},
	}
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

// notCompleted describes a few requests that are not Completed (phase and
// Ready condition only: nothing personal).
func notCompleted(list *privacyv1alpha1.DataSubjectRequestList) string {
	if list == nil {
		return ""
	}
	var b strings.Builder
	shown := 0
	for i := range list.Items {
		req := &list.Items[i]
		if req.Status.Phase == privacyv1alpha1.PhaseCompleted {
			continue
		}
		if shown == 5 {
			b.WriteString("\n  ...")
			break
		}
		shown++
		fmt.Fprintf(&b, "\n  %s: phase %q", req.Name, req.Status.Phase)
		if cond := meta.FindStatusCondition(req.Status.Conditions, privacyv1alpha1.ConditionReady); cond != nil {
			fmt.Fprintf(&b, ", Ready=%s %s: %s", cond.Status, cond.Reason, cond.Message)
		}
	}
	return b.String()
}

func readInventory() (*privacyv1alpha1.DataInventory, error) {
	root, err := localenv.FindRepoRoot()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(root, inventoryFile)
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

// waitFor polls cond every interval until it holds, the timeout passes, ctx
// ends or the manager exits.
func waitFor(ctx context.Context, mgr *localenv.Manager, timeout, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
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

// sqlTracer adds up the time of every statement by its text, under the label
// of the request being measured (statements under an empty label are not
// counted). For a query, the time runs until its rows are read.
type sqlTracer struct {
	mu    sync.Mutex
	label string
	stats map[string]map[string]*stmtStat
}

type stmtStat struct {
	calls int
	total time.Duration
}

type traceStartKey struct{}

type traceStart struct {
	label, sql string
	at         time.Time
}

func newSQLTracer() *sqlTracer { return &sqlTracer{stats: map[string]map[string]*stmtStat{}} }

func (s *sqlTracer) setLabel(label string) {
	s.mu.Lock()
	s.label = label
	s.mu.Unlock()
}

func (s *sqlTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	s.mu.Lock()
	label := s.label
	s.mu.Unlock()
	if label == "" {
		return ctx
	}
	return context.WithValue(ctx, traceStartKey{}, traceStart{label: label, sql: data.SQL, at: time.Now()})
}

func (s *sqlTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	st, ok := ctx.Value(traceStartKey{}).(traceStart)
	if !ok {
		return
	}
	d := time.Since(st.at)
	key := st.sql
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stats[st.label] == nil {
		s.stats[st.label] = map[string]*stmtStat{}
	}
	if s.stats[st.label][key] == nil {
		s.stats[st.label][key] = &stmtStat{}
	}
	s.stats[st.label][key].calls++
	s.stats[st.label][key].total += d
}

// statementKind groups a statement by what it is for.
func statementKind(sql string) string {
	s := strings.ToLower(strings.Join(strings.Fields(sql), " "))
	switch {
	case strings.Contains(s, "count(*) filter"):
		return "verification re-scan (dsr.Verify)"
	case strings.Contains(s, "lethe.audit_log") || strings.Contains(s, "advisory_xact_lock"):
		return "audit record (lock, chain head, insert)"
	case strings.Contains(s, "lethe."):
		return "request bookkeeping (state, plan, ledger, pseudonym)"
	case s == "begin" || strings.HasPrefix(s, "begin ") || s == "commit":
		return "begin and commit"
	case strings.Contains(s, "row_to_json"):
		return "reading the subject's rows (row_to_json)"
	case strings.Contains(s, "pg_catalog.pg_class") || strings.Contains(s, "pg_catalog.pg_constraint"):
		return "catalog read (tenantdb.ReadCatalog)"
	case strings.HasPrefix(s, "update ") || strings.HasPrefix(s, "delete "):
		return "masking and deleting rows"
	case strings.HasPrefix(s, "select ") || strings.HasPrefix(s, "with "):
		return "finding the subject's rows (inventory.Find)"
	}
	return "other"
}

// breakdown groups the statements of a label by kind, by total time, with
// calls and milliseconds per request and their share of the requests' wall
// time, and the time outside SQL last.
func (s *sqlTracer) breakdown(label string, requests int, wall float64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	kinds := map[string]*stmtStat{}
	var inSQL float64
	var calls int
	for sql, st := range s.stats[label] {
		k := statementKind(sql)
		if kinds[k] == nil {
			kinds[k] = &stmtStat{}
		}
		kinds[k].calls += st.calls
		kinds[k].total += st.total
		inSQL += ms(st.total)
		calls += st.calls
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return kinds[names[i]].total > kinds[names[j]].total })
	per := func(v float64) float64 { return v / float64(requests) }
	share := func(v float64) float64 { return 100 * v / wall }
	lines := []string{fmt.Sprintf("%9s %8s %6s", "stmts", "ms", "share")}
	for _, k := range names {
		st := kinds[k]
		lines = append(lines, fmt.Sprintf("%9.1f %8.3f %5.1f%%  %s", per(float64(st.calls)), per(ms(st.total)),
			share(ms(st.total)), k))
	}
	lines = append(lines, fmt.Sprintf("%9s %8.3f %5.1f%%  %s", "", per(wall-inSQL), share(wall-inSQL),
		"outside SQL: Go code (inventory check, planning, export.Build), pool"),
		fmt.Sprintf("%9.1f %8.3f %5.1f%%  %s", per(float64(calls)), per(wall), 100.0, "total: statements (round trips) and time per request"))
	return lines
}

func formatReport(cfg config, started time.Time, load [2]string, env facts, eng engineResult, api []apiRun) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("Lethe benchmark: dsr\n\n")
	w("date:        %s\n", started.UTC().Format(time.RFC3339))
	w("machine:     %s; %s; %d cores; %.1f GiB memory\n", uname(), cpuModel(), runtime.NumCPU(), float64(memTotal())/(1<<30))
	w("load:        1-minute load average %s at the start, %s at the end (other work on the machine\n", load[0], load[1])
	w("             shares its cores with the benchmark)\n")
	w("go:          %s\n", runtime.Version())
	w("postgresql:  %s (local, default durability settings: every commit is flushed to disk)\n", eng.postgres)
	w("kubernetes:  %s (envtest kube-apiserver, etcd %s)\n", env.kubernetes, env.etcd)
	w("runs:        %d\n\n", cfg.runs)

	w("Engine: internal/dsr.Execute on one tenant database, as the controller calls it per target\n\n")
	w("database:    sample application (config/samples DataInventory), %d customers, seed 1:\n", cfg.subjects)
	w("             %d rows in %d tables (loaded in %.0f s), lethe schema migrated;\n", eng.rows, eng.tables, eng.loadTime.Seconds())
	w("             one pool of %d connections (the TenantDatabase default), one request at a time\n", poolConns)
	w("subjects:    %d customers per figure and run, spread over the id range; access and erasure\n", cfg.samples)
	w("             use different customers, and every run new ones (all runs in the same database);\n")
	w("             %d warm-up requests before the first run are not counted\n", min(warmups, cfg.samples))
	w("access:      dsr.Execute(Access): catalog read, inventory check, subject rows found through the\n")
	w("             relations, every row read as JSON, one audit record; then export.Build (zip with\n")
	w("             the JSON document, one CSV per entity and the manifest)\n")
	w("erasure:     dsr.Execute(Erasure, method Anonymize): catalog read, inventory check, rows found,\n")
	w("             plan recorded, pseudonym number, one masking or delete batch per entity, each\n")
	w("             committed with its ledger row and audit record, completion recorded; not the\n")
	w("             verification re-scan (timed apart for %d erased customers per run)\n\n", cfg.verifySamples)

	w("%-34s %8s %8s %8s %10s  %s\n", "figure", "min", "median", "max", "target", "result")
	row := func(name string, vals []float64, target float64, targetText string, inclusive bool) {
		lo, med, hi := stats(vals)
		verdict := "PASS"
		if med > target || (!inclusive && med == target) {
			verdict = "FAIL"
		}
		w("%-34s %8.2f %8.2f %8.2f %10s  %s (median)\n", name, lo, med, hi, targetText, verdict)
	}
	info := func(name string, vals []float64) {
		lo, med, hi := stats(vals)
		w("%-34s %8.2f %8.2f %8.2f %10s  information\n", name, lo, med, hi, "-")
	}
	n := len(eng.runs)
	accP50, accP99 := make([]float64, n), make([]float64, n)
	eraP50, eraP99 := make([]float64, n), make([]float64, n)
	verP50 := make([]float64, 0, n)
	var exported, found, changed int64
	unverified := 0
	for i, r := range eng.runs {
		accP50[i], accP99[i] = percentile(r.access, 50), percentile(r.access, 99)
		eraP50[i], eraP99[i] = percentile(r.erasure, 50), percentile(r.erasure, 99)
		if len(r.verify) > 0 {
			verP50 = append(verP50, percentile(r.verify, 50))
		}
		exported, found, changed = exported+r.exported, found+r.found, changed+r.changed
		unverified += r.unverified
	}
	info("access export p50 (ms)", accP50)
	row("access export p99 (ms)", accP99, ms(targetExportP99), fmt.Sprintf("<= %g ms", ms(targetExportP99)), true)
	info("engine erasure p50 (ms)", eraP50)
	row("engine erasure p99 (ms)", eraP99, ms(targetErasureP99), fmt.Sprintf("<= %g ms", ms(targetErasureP99)), true)
	if len(verP50) > 0 {
		info("erasure verification scan p50 (ms)", verP50)
	}
	measured := float64(cfg.samples * n)
	w("\nper subject (mean): access exported %.1f rows; erasure found %.1f rows and changed %.1f\n",
		float64(exported)/measured, float64(found)/measured, float64(changed)/measured)
	if cfg.verifySamples > 0 {
		w("verification: %d of %d erased customers re-scanned; %d with identifiers left\n",
			cfg.verifySamples*n-unverified, cfg.verifySamples*n, unverified)
	}
	w("\nper run (p50 / p99 / max, ms):\n")
	for i, r := range eng.runs {
		w("  run %d: access export %.2f / %.2f / %.2f; engine erasure %.2f / %.2f / %.2f",
			i+1, percentile(r.access, 50), percentile(r.access, 99), percentile(r.access, 100),
			percentile(r.erasure, 50), percentile(r.erasure, 99), percentile(r.erasure, 100))
		if len(r.verify) > 0 {
			w("; verification scan p50 %.0f", percentile(r.verify, 50))
		}
		w("\n")
	}

	var accessWall, erasureWall float64
	for _, r := range eng.runs {
		for _, v := range r.access {
			accessWall += v
		}
		for _, v := range r.erasure {
			erasureWall += v
		}
	}
	if eng.trace != nil && accessWall > 0 && erasureWall > 0 {
		w("\nwhere the engine time goes (all runs; time per statement until its rows are read; one round\n")
		w("trip, SELECT 1 on the same pool, takes %.3f ms at the median):\n", eng.roundTrip)
		w("  access export, %.2f ms per request on average:\n", accessWall/measured)
		for _, l := range eng.trace.breakdown("access", cfg.samples*n, accessWall) {
			w("    %s\n", l)
		}
		w("  engine erasure, %.2f ms per request on average:\n", erasureWall/measured)
		for _, l := range eng.trace.breakdown("erasure", cfg.samples*n, erasureWall) {
			w("    %s\n", l)
		}
	}

	w("\nAPI: DataSubjectRequests through the API server and the manager\n\n")
	names := make([]string, len(apiTenants))
	for i, t := range apiTenants {
		names[i] = fmt.Sprintf("%s (seed %d)", t.name, t.seed)
	}
	w("scenario:    %d Erasure requests created at once (%d goroutines) in one namespace, each approved\n", cfg.requests, apiWorkers)
	w("             at creation, about a different customer of %s by inline e-mail, targeting two\n", apiTenants[0].name)
	w("             TenantDatabases: %s, sample application with %d customers each\n", strings.Join(names, " and "), max(apiCustomers, cfg.requests))
	w("             (the customer is found in the first only); one DataInventory; timed from the first\n")
	w("             create until all report phase Completed (List polled every %s); manager already\n", pollInterval)
	w("             running (DataInventory and both TenantDatabases Ready), flags: defaults;\n")
	w("             each run in a fresh environment (PostgreSQL max_connections=%d)\n\n", apiMaxConnections)
	w("%-34s %8s %8s %8s %10s  %s\n", "figure", "min", "median", "max", "target", "result")
	secs, created, mibs := make([]float64, len(api)), make([]float64, len(api)), make([]float64, len(api))
	for i, r := range api {
		secs[i], created[i], mibs[i] = r.completed.Seconds(), r.created.Seconds(), mib(r.rss)
	}
	row(fmt.Sprintf("time to all %d Completed (s)", cfg.requests), secs, targetRequests.Seconds(),
		fmt.Sprintf("< %g s", targetRequests.Seconds()), false)
	info("of which creating them (s)", created)
	info("manager peak RSS (MiB)", mibs)
	_, med, _ := stats(secs)
	w("\nmedian time per request:    %.1f ms (%d requests, 2 targets each)\n", 1000*med/float64(cfg.requests), cfg.requests)
	w("\nper run:\n")
	for i, r := range api {
		w("  run %d: %.2f s (created in %.2f s), %.1f MiB; %d/%d Verified, %d rows changed\n", i+1,
			r.completed.Seconds(), r.created.Seconds(), mib(r.rss), r.verified, cfg.requests, r.changed)
	}

	w("\ncompletions over time (first seen Completed by the %s poll):\n", pollInterval)
	for i, r := range api {
		at := func(q float64) float64 {
			if len(r.done) == 0 {
				return 0
			}
			return r.done[min(len(r.done)-1, max(0, int(math.Ceil(q*float64(len(r.done))))-1))].Seconds()
		}
		w("  run %d: first %.2f s, 10%% %.2f s, 50%% %.2f s, 90%% %.2f s, all %.2f s; steady rate %.1f requests/s\n",
			i+1, at(0), at(0.1), at(0.5), at(0.9), at(1), 0.8*float64(len(r.done))/max(at(0.9)-at(0.1), 1e-9))
	}
	w("\nmanager's PostgreSQL sessions (pg_stat_activity sampled every %s; mean number in each state):\n",
		sessionSampleInterval)
	for i, r := range api {
		w("  run %d:\n", i+1)
		for _, prefix := range []string{"active: ", "waiting: ", ""} {
			states := make([]string, 0, len(r.sessions))
			var sum float64
			for st, v := range r.sessions {
				p := ""
				if strings.HasPrefix(st, "active: ") || strings.HasPrefix(st, "waiting: ") {
					p = st[:strings.Index(st, " ")+1]
				}
				if p == prefix {
					states = append(states, st)
					sum += v
				}
			}
			sort.Slice(states, func(a, b int) bool { return r.sessions[states[a]] > r.sessions[states[b]] })
			parts := make([]string, 0, len(states))
			for _, st := range states {
				if r.sessions[st] >= 0.005 {
					parts = append(parts, fmt.Sprintf("%s %.2f", strings.TrimPrefix(st, prefix), r.sessions[st]))
				}
			}
			switch prefix {
			case "active: ":
				w("    active %.2f: %s\n", sum, strings.Join(parts, ", "))
			case "waiting: ":
				w("    of which waiting %.2f: %s\n", sum, strings.Join(parts, ", "))
			default:
				w("    not active: %s\n", strings.Join(parts, ", "))
			}
		}
	}

	w("\nAPI server requests during the measurement (apiserver_request_duration_seconds; per\n")
	w("DataSubjectRequest, total seconds, mean ms; the ten kinds that took longest):\n")
	for i, r := range api {
		keys := make([]string, 0, len(r.apiserver))
		for k := range r.apiserver {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(a, b int) bool { return r.apiserver[keys[a]].seconds > r.apiserver[keys[b]].seconds })
		w("  run %d:\n", i+1)
		for j, k := range keys {
			if j == 10 {
				break
			}
			st := r.apiserver[k]
			w("    %7.2f %8.1f s %8.2f ms  %s\n", st.count/float64(cfg.requests), st.seconds, 1000*st.seconds/st.count, k)
		}
	}

	w("\nCPU time during the measurement (s; user + system, the process and its children):\n")
	for i, r := range api {
		groups := make([]string, 0, len(r.cpu))
		var total time.Duration
		for g, d := range r.cpu {
			groups = append(groups, g)
			total += d
		}
		sort.Slice(groups, func(a, b int) bool { return r.cpu[groups[a]] > r.cpu[groups[b]] })
		parts := make([]string, 0, len(groups))
		for _, g := range groups {
			if r.cpu[g] >= 10*time.Millisecond {
				parts = append(parts, fmt.Sprintf("%s %.1f", g, r.cpu[g].Seconds()))
			}
		}
		w("  run %d: %.1f of %.1f available (%d cores x %.1f s): %s\n", i+1, total.Seconds(),
			float64(runtime.NumCPU())*r.completed.Seconds(), runtime.NumCPU(), r.completed.Seconds(), strings.Join(parts, ", "))
	}

	w("\nnotes:\n")
	w("  - percentiles are nearest-rank over the %d customers of a run; the table shows the minimum,\n", cfg.samples)
	w("    median and maximum over runs of each run's percentile; PASS/FAIL compares the median\n")
	w("  - engine figures exclude Kubernetes entirely (no API reads, no status writes, no events)\n")
	w("    and connection set-up (the pool is warm); they include every database round trip and\n")
	w("    commit of the request, the catalog read and inventory check Execute does on each call\n")
	w("  - the verification re-scan reads every text column of every inventory table without an\n")
	w("    index, so it grows with the database; the controller runs it once per erased target\n")
	w("  - the API figure includes everything the manager does per request: identifier and salt\n")
	w("    reads, deadline, approval, both targets, the verification re-scan of both, events and\n")
	w("    status writes, with the manager's default concurrency\n")
	benchCPU := make([]float64, len(api))
	for i, r := range api {
		benchCPU[i] = r.cpu["benchmark (creating, polling)"].Seconds()
	}
	_, medCPU, _ := stats(benchCPU)
	w("  - the benchmark is part of the load it measures: each List returns every request (the API\n")
	w("    server cannot filter by phase), and creating and polling took %.1f CPU-s in the benchmark\n", medCPU)
	w("    process (median run) besides the LIST line in the API server's table above\n")
	w("  - every process shares the machine's %d cores with whatever else runs on it (see load); the\n", runtime.NumCPU())
	w("    spread between runs comes mostly from that\n")
	return b.String()
}

// percentile is the nearest-rank p-th percentile (p in (0, 100]).
func percentile(vals []float64, p float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// stats returns the minimum, median and maximum.
func stats(vals []float64) (lo, med, hi float64) {
	if len(vals) == 0 {
		return 0, 0, 0
	}
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

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func uname() string {
	out, err := exec.Command("uname", "-srm").Output()
	if err != nil {
		return runtime.GOOS + " " + runtime.GOARCH
	}
	return strings.TrimSpace(string(out))
}

// loadAverage is the 1-minute load average.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
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
	fmt.Fprintf(os.Stderr, "%s benchdsr: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchdsr: "+format+"\n", args...)
	os.Exit(1)
}
