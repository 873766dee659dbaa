// Command bench runs Lethe's benchmarks on a local environment (a local
// PostgreSQL with its default durability settings and a local Kubernetes API
// server, see hack/localenv) and writes the results to -out.
//
//	go run ./hack/bench -manager bin/manager -out bench/results [-scenario all] [-runs 3]
//
// Scenarios (-scenario picks one; the default, all, runs them in this order):
//
//   - tenants (tenants.go): N TenantDatabases created at once; results in
//     <out>/tenants.txt.
//   - roles (roles.go): Roles synced into every tenant, a catalog change,
//     lethe.can and lethe.visible_users latency; results in <out>/roles.txt.
//   - dsr (dsr.go): DataSubjectRequests, through internal/dsr.Execute on one
//     large tenant database and through the API server and the manager;
//     results in <out>/dsr.txt.
//   - retention (retention.go): the retention executor against set-based
//     UPDATEs of the same rows, on a table keyed by one column at several
//     sizes and on a table with a composite key partitioned by month;
//     results in <out>/retention.txt.
//   - pseudonymization (pseudonymization.go): a PseudonymizationJob's keyed
//     pseudonyms on the employees of two tenants against set-based HMAC
//     UPDATEs of the same columns; results in <out>/pseudonymization.txt.
//   - classify (classify.go): internal/classify's content sampler on one
//     table of 1M rows of personal columns; results in <out>/classify.txt.
//   - rls (rls.go): Lethe's row-level security policies on a table of 1M
//     rows against the same queries with RLS bypassed; results in
//     <out>/rls.txt.
//
// Every results file also goes to stdout; progress goes to stderr. `-help`
// lists the flags by scenario.
//
// This is a measuring program, not a test: it reports targets as PASS or FAIL
// but exits 0 whenever it could measure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/internal/classify"
)

// config holds the flags the scenarios share.
type config struct {
	manager     string
	managerArgs []string
	out         string
	runs        int
	keep        bool
	// The tenants scenario's; the roles scenario uses tenants and timeout
	// too.
	tenants, customers int
	timeout            time.Duration
}

// scenario is one benchmark scenario.
type scenario struct {
	name     string
	validate func(cfg config) error
	run      func(ctx context.Context, cfg config)
}

// flagGroup is a heading of -help and the flags listed under it.
type flagGroup struct {
	title string
	names []string
}

func main() {
	var cfg config
	var managerArgs string
	scenarioName := flag.String("scenario", "all", "the scenario to run: tenants, roles, dsr, retention, pseudonymization, classify, rls or all (all seven, in this order)")
	flag.StringVar(&cfg.manager, "manager", "bin/manager", "the manager binary (build it with: go build -o bin/manager .)")
	flag.StringVar(&managerArgs, "manager-args", "", "extra flags for the manager, separated by spaces (default: none, the manager's defaults)")
	flag.StringVar(&cfg.out, "out", "bench/results", "directory the results are written to")
	flag.IntVar(&cfg.runs, "runs", 3, "number of runs of each scenario, each in a fresh environment (the dsr engine figures' runs share one database)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep each run's work directory (kubeconfig, logs)")
	flag.IntVar(&cfg.tenants, "tenants", 50, "number of TenantDatabases (tenants: created at once; roles: every Role synced into each)")
	flag.IntVar(&cfg.customers, "customers", 20, "customers per tenant database (the sample application's size)")
	flag.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "how long one run may wait for every TenantDatabase to be Ready (tenants, roles)")
	rc := &rolesConfig{}
	flag.IntVar(&rc.roles, "roles", 200, "number of Roles, each synced into every tenant")
	flag.IntVar(&rc.members, "members", 10000, "members of all Roles together, each a distinct user")
	flag.IntVar(&rc.permissions, "permissions", 150, "permissions of the catalog")
	flag.IntVar(&rc.probes, "probes", 2000, "timed calls of each SQL function per run")
	flag.DurationVar(&rc.timeout, "roles-timeout", 20*time.Minute, "how long one run may wait for the Roles to sync")
	dc := &dsrConfig{}
	flag.IntVar(&dc.subjects, "subjects", 100000, "customers in the engine figures' database (the sample application's size)")
	flag.IntVar(&dc.samples, "samples", 300, "customers measured per engine figure and run")
	flag.IntVar(&dc.requests, "requests", 1000, "Erasure requests created at once in the API figure")
	flag.IntVar(&dc.verifySamples, "verify-samples", 5, "erased customers whose verification re-scan is timed, per run")
	flag.DurationVar(&dc.apiTimeout, "dsr-timeout", 10*time.Minute, "how long one API run may wait for every request to be Completed")
	flag.IntVar(&dc.edgeMembers, "dsr-edge-members", 20000, "members of the Edge schema in the partitioned engine figure (1.25 accounts each)")
	flag.IntVar(&dc.edgePayments, "dsr-edge-payments", 40, "payments per account in the partitioned engine figure (40: 1M payments with 20000 members)")
	rtc := &retentionConfig{sizes: []int{100000, 300000, 1000000, 3000000}}
	flag.Var(sizesFlag{rtc}, "retention-sizes", "row counts of the one-column-key table, separated by commas, growing (half of each eligible)")
	flag.IntVar(&rtc.monthlyRows, "retention-monthly-rows", 1000000, "rows of the table keyed by (closed_at, id) and partitioned by month (half eligible)")
	flag.IntVar(&rtc.batch, "retention-batch", 10000, "the rules' batchSize for the ratios (batch times are also taken at 1000, the default)")
	flag.IntVar(&rtc.workers, "retention-workers", 2, "transactions masking one rule at once, each in its own part of the rows (the controller uses 2)")
	pc := &pseudonymizationConfig{}
	flag.IntVar(&pc.employees, "pseudonymization-employees", 100000, "employees in all, split evenly over two tenant databases")
	flag.IntVar(&pc.batch, "pseudonymization-batch", 5000, "the job's batchSize")
	cc := &classifyConfig{}
	flag.IntVar(&cc.rows, "classify-rows", 1000000, "rows of the classify table")
	flag.IntVar(&cc.sample, "classify-sample", classify.DefaultSampleRows, "rows the sampler reads per table (classify.Options.SampleRows)")
	lc := &rlsConfig{}
	flag.IntVar(&lc.rows, "rls-rows", 1000000, "rows of the scoped calls table")
	flag.IntVar(&lc.users, "rls-users", 1000, "agents owning the calls, in teams of 20")
	flag.IntVar(&lc.probes, "rls-probes", 2000, "pages of 100 rows timed each way per run")
	flag.IntVar(&lc.aggregates, "rls-aggregates", 15, "full-table aggregates timed each way per run")
	groups := []flagGroup{
		{"every scenario", []string{"scenario", "manager", "manager-args", "out", "runs", "keep"}},
		{"tenants (-tenants and -timeout also apply to roles)", []string{"tenants", "customers", "timeout"}},
		{"roles", []string{"roles", "members", "permissions", "probes", "roles-timeout"}},
		{"dsr", []string{"subjects", "samples", "requests", "verify-samples", "dsr-timeout", "dsr-edge-members", "dsr-edge-payments"}},
		{"retention", []string{"retention-sizes", "retention-monthly-rows", "retention-batch", "retention-workers"}},
		{"pseudonymization", []string{"pseudonymization-employees", "pseudonymization-batch"}},
		{"classify", []string{"classify-rows", "classify-sample"}},
		{"rls", []string{"rls-rows", "rls-users", "rls-probes", "rls-aggregates"}},
	}
	flag.Usage = func() { usage(groups) }
	flag.Parse()
	if flag.NArg() > 0 {
		benchutil.Fatalf("unexpected arguments: %s (see -help)", strings.Join(flag.Args(), " "))
	}
	cfg.managerArgs = strings.Fields(managerArgs)

	scenarios := []scenario{
		{"tenants", validateTenants, runTenantsScenario},
		{"roles", rc.validate, func(ctx context.Context, cfg config) { runRolesScenario(ctx, cfg, rc) }},
		{"dsr", dc.validate, func(ctx context.Context, cfg config) { runDSRScenario(ctx, cfg, dc) }},
		{"retention", rtc.validate, func(ctx context.Context, cfg config) { runRetentionScenario(ctx, cfg, rtc) }},
		{"pseudonymization", pc.validate, func(ctx context.Context, cfg config) { runPseudonymizationScenario(ctx, cfg, pc) }},
		{"classify", cc.validate, func(ctx context.Context, cfg config) { runClassifyScenario(ctx, cfg, cc) }},
		{"rls", lc.validate, func(ctx context.Context, cfg config) { runRLSScenario(ctx, cfg, lc) }},
	}
	var selected []scenario
	for _, s := range scenarios {
		if *scenarioName == "all" || *scenarioName == s.name {
			selected = append(selected, s)
		}
	}
	if len(selected) == 0 {
		benchutil.Fatalf("-scenario must be tenants, roles, dsr, retention, pseudonymization, classify, rls or all")
	}
	// Every selected scenario's flags are checked before the first starts.
	errs := []error{validateCommon(cfg)}
	for _, s := range selected {
		errs = append(errs, s.validate(cfg))
	}
	if err := errors.Join(errs...); err != nil {
		benchutil.Fatalf("%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, s := range selected {
		s.run(ctx, cfg)
	}
}

func validateCommon(cfg config) error {
	if cfg.runs < 1 {
		return errors.New("-runs must be at least 1")
	}
	return nil
}

// usage prints the flags by group, in the format of flag.PrintDefaults.
func usage(groups []flagGroup) {
	out := flag.CommandLine.Output()
	fmt.Fprint(out, `Usage: go run ./hack/bench [flags]

Runs Lethe's benchmarks on a local PostgreSQL and Kubernetes API server and
writes each scenario's results to <out>/<scenario>.txt and stdout.

Scenarios (-scenario; all runs the seven in this order):
  tenants  -tenants TenantDatabases created at once: time until all are Ready,
           manager peak RSS (tenants.go)
  roles    -roles Roles synced into -tenants tenants: first sync, convergence
           after a catalog change, lethe.can and lethe.visible_users latency
           (roles.go)
  dsr      DataSubjectRequests: access export and erasure latency of the engine
           on one database of -subjects customers, erasure latency on the Edge
           schema with 1M payments partitioned by month, and -requests Erasure
           requests through the API server and the manager (dsr.go)
  retention the retention executor against one set-based UPDATE of the
           same rows, on -retention-sizes rows of a table with a one-column
           key and -retention-monthly-rows of one keyed (closed_at, id) and
           partitioned by month (retention.go)
  pseudonymization  a keyed PseudonymizationJob's work on
           -pseudonymization-employees employees of two tenants against
           set-based HMAC UPDATEs of the same columns (pseudonymization.go)
  classify the personal-data classifier's content sampler on one table of
           -classify-rows rows (classify.go)
  rls      Lethe's row-level security policies on -rls-rows rows: a page by
           owner and date and a full-table aggregate against the same queries
           with RLS bypassed (rls.go)
`)
	for _, g := range groups {
		fmt.Fprintf(out, "\n%s:\n", g.title)
		for _, name := range g.names {
			f := flag.Lookup(name)
			if f == nil {
				continue
			}
			typ, text := flag.UnquoteUsage(f)
			line := "  -" + f.Name
			if typ != "" {
				line += " " + typ
			}
			line += "\n    \t" + strings.ReplaceAll(text, "\n", "\n    \t")
			if f.DefValue != "" && f.DefValue != "false" {
				def := f.DefValue
				if typ == "string" {
					def = strconv.Quote(def)
				}
				line += " (default " + def + ")"
			}
			fmt.Fprintln(out, line)
		}
	}
}
