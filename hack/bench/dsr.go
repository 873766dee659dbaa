package main

// Scenario "dsr": DataSubjectRequests, in three parts. Results go to
// <out>/dsr.txt.
//
// Engine figures (dsr_engine.go): one tenant database holds the sample
// application at -subjects customers (seed 1), with the lethe schema
// migrated. For -samples customers per run, spread over the id range, it
// times internal/dsr.Execute as the DataSubjectRequest controller calls it
// for one target: an Access request plus export.Build of the rows it read
// ("access export"), and, for other customers, an Erasure request with the
// Anonymize method ("engine erasure"; the controller's verification re-scan
// is timed apart, for -verify-samples subjects). Every run measures different
// customers in the same database.
//
// Engine figure on a partitioned table (dsr_edge.go): a second database
// holds the Edge schema scaled up (-dsr-edge-members members,
// -dsr-edge-payments payments per account: 1M payments by default, keyed by
// (paid_at, id) in monthly partitions, every foreign-key column indexed);
// -samples erasures per run of different members are timed as above.
//
// API figure (dsr_api.go): per run, a fresh environment with two tenant
// databases (the sample application at a small size), the sample
// DataInventory and the manager binary; -requests approved Erasure requests,
// each about a different customer of one tenant and targeting both, are
// created at once. Measured: the wall time from the first create until all
// report phase Completed (seen through a watch), and the manager's peak
// resident set size.
//
// To say where the time goes, the report (dsr_report.go) also breaks the
// engine's time down by statement kind (a pgx tracer on the pool,
// dsr_trace.go), and for the API figure lists the CPU time of each process,
// the API server's requests by kind (its apiserver_request_duration_seconds
// metric) and a sampled profile of the manager's PostgreSQL sessions
// (pg_stat_activity every 20 ms; dsr_profile.go).

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/hack/localenv"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

const (
	subjectType = "customer"
	benchActor  = "lethe-benchmark"

	// Targets of the "dsr" scenario.
	targetErasureP99 = 10 * time.Millisecond
	targetExportP99  = 5 * time.Millisecond
	targetRequests   = 20 * time.Second

	// The API figure's environment.
	apiCustomers      = 1500 // customers per tenant database
	apiMaxConnections = 200
	apiWorkers        = 24 // goroutines creating the requests

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

// dsrConfig is the dsr scenario's flags and, once it runs, the shared ones.
type dsrConfig struct {
	config
	subjects      int
	samples       int
	requests      int
	verifySamples int
	apiTimeout    time.Duration
	// The partitioned figure's Edge schema: members, payments per account.
	edgeMembers  int
	edgePayments int
}

func (dc *dsrConfig) validate(cfg config) error {
	if dc.samples < 1 || dc.requests < 1 || cfg.runs < 1 || dc.verifySamples < 0 {
		return errors.New("-samples, -requests and -runs must be at least 1, -verify-samples at least 0")
	}
	if dc.subjects > sampleapp.MaxCustomers || dc.subjects < dc.samples*slots(cfg.runs) {
		return fmt.Errorf("-subjects must be between -samples × %d (%d) and %d", slots(cfg.runs), dc.samples*slots(cfg.runs),
			sampleapp.MaxCustomers)
	}
	if dc.edgeMembers < dc.samples*edgeSlots(cfg.runs) {
		return fmt.Errorf("-dsr-edge-members must be at least -samples × %d (%d)", edgeSlots(cfg.runs), dc.samples*edgeSlots(cfg.runs))
	}
	if dc.edgePayments < 1 {
		return errors.New("-dsr-edge-payments must be at least 1")
	}
	return nil
}

// runDSRScenario measures the engine figures, then runs the API figure
// cfg.runs times, and writes dsr.txt.
func runDSRScenario(ctx context.Context, shared config, dc *dsrConfig) {
	cfg := *dc
	cfg.config = shared
	cfg.verifySamples = min(cfg.verifySamples, cfg.samples)
	started := time.Now()
	loadBefore := benchutil.LoadAverage()

	inv, err := benchutil.SampleInventory()
	if err != nil {
		benchutil.Fatalf("%v", err)
	}
	eng, err := runEngine(ctx, cfg, &inv.Spec)
	if err != nil {
		benchutil.Fatalf("dsr engine figures: %v", err)
	}
	edge, err := runEdgeEngine(ctx, cfg)
	if err != nil {
		benchutil.Fatalf("dsr engine figure on the Edge schema: %v", err)
	}

	apiRuns, versions := benchutil.Repeat("dsr API run", cfg.runs, fmt.Sprintf("%d Erasure requests", cfg.requests),
		func(n int) (apiRun, localenv.Versions, error) { return runAPI(ctx, cfg, inv, n) },
		func(r apiRun) string {
			return fmt.Sprintf("all %d Completed after %.2fs, manager peak RSS %.1f MiB", cfg.requests, r.completed.Seconds(),
				benchutil.MiB(r.rss))
		})
	versions.PostgreSQL = eng.postgres
	report := formatDSRReport(cfg, started, [2]string{loadBefore, benchutil.LoadAverage()}, versions, eng, edge, apiRuns)
	benchutil.Publish(cfg.out, "dsr.txt", report)
}

// slots is how many customers each sample position provides: one for access
// and one for erasure per run, and one for the warm-up.
func slots(runs int) int { return 2*runs + 1 }

// customerID picks the customer of sample i in a slot: the id range is cut
// into -samples blocks, each block into slots; every (slot, sample) pair
// gets its own customer.
func customerID(cfg dsrConfig, slot, i int) int64 {
	block := cfg.subjects / cfg.samples
	return int64(i*block + slot*(block/slots(cfg.runs)) + 1)
}

// erasureRequest is request i, about the customer with the e-mail, targeting
// every tenant of the API figure.
func erasureRequest(i int, email string) *privacyv1alpha1.DataSubjectRequest {
	names := make([]string, len(apiTenants))
	for j, t := range apiTenants {
		names[j] = t.name
	}
	return &privacyv1alpha1.DataSubjectRequest{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("erase-%05d", i), Namespace: namespace},
		Spec: privacyv1alpha1.DataSubjectRequestSpec{
			Type:    privacyv1alpha1.RequestErasure,
			Subject: privacyv1alpha1.RequestSubject{Type: subjectType, Identifiers: map[string]string{"email": email}},
			Targets: privacyv1alpha1.Targets{Names: names},
			// No webhooks here to stamp who waived the approval: the bench
			// stamps it, as only the webhook may on a cluster.
			Approval: &privacyv1alpha1.Approval{Required: ptr.To(false),
				ApprovedBy: &privacyv1alpha1.StampedIdentity{Username: "bench-approver", At: metav1.Now()}},
		},
	}
}
