package controllers

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Every lethe_* metric is defined here and registered with
// controller-runtime's registry, so the manager's metrics endpoint serves
// it. Labels name Kubernetes objects and their kinds, types, phases and
// reasons only: never a subject, a digest or a row value. Their
// cardinality is bounded by the objects users create: a namespace times
// its requests' types and phases, its policies times their rules times
// their targets, its TenantDatabases. Histograms are labelled per policy
// (and rule), not per tenant database, so their buckets do not multiply
// with the tenants. A deleted object's series are deleted with it.

// Label names.
const (
	labelNamespace = "namespace"
	labelKind      = "kind"
	labelType      = "type"
	labelPhase     = "phase"
	labelPolicy    = "policy"
	labelRule      = "rule"
	labelTenant    = "tenant_database"
	labelReason    = "reason"
	labelState     = "state"
)

var (
	retentionRowsMatched = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lethe_retention_rows_matched_total",
		Help: "Rows a retention rule found eligible in a tenant database (dry runs included).",
	}, []string{labelNamespace, labelPolicy, labelRule, labelTenant})
	retentionRowsChanged = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lethe_retention_rows_changed_total",
		Help: "Rows a retention rule anonymized, pseudonymized, deleted or archived in a tenant database.",
	}, []string{labelNamespace, labelPolicy, labelRule, labelTenant})
	retentionRunsCompleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lethe_retention_runs_completed_total",
		Help: "Runs of a retention policy that completed in every target.",
	}, []string{labelNamespace, labelPolicy})
	retentionRunFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lethe_retention_run_failures_total",
		Help: "Attempts of a retention policy's run that failed in a tenant database, by the reason on the policy " +
			"(RunFailed is retried from its checkpoint; any other reason stalls the run until something changes).",
	}, []string{labelNamespace, labelPolicy, labelTenant, labelReason})
	retentionRunSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "lethe_retention_run_duration_seconds",
		Help:    "Time from a retention run's scheduled (or requested) time to its completion in every target.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 10), // 1 s to about 3 days
	}, []string{labelNamespace, labelPolicy})
	retentionBatchSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "lethe_retention_batch_duration_seconds",
		Help:    "Time one committed batch of a retention rule took (one transaction).",
		Buckets: prometheus.ExponentialBuckets(0.005, 4, 9), // 5 ms to about 5 min
	}, []string{labelNamespace, labelPolicy, labelRule})

	tenantConnected = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "lethe_tenant_connected",
		Help: "1 when the operator reached the tenant database and migrated its lethe schema at the last check, else 0.",
	}, []string{labelNamespace, labelTenant})
	tenantAuditChainIntact = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "lethe_tenant_audit_chain_intact",
		Help: "1 when the tenant database's audit log verified as an unbroken hash chain, 0 when it is broken; " +
			"absent until it was verified.",
	}, []string{labelNamespace, labelTenant})
	tenantUncoveredColumns = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "lethe_tenant_uncovered_personal_columns",
		Help: "Columns of the tenant database that look personal but are not in its DataInventory.",
	}, []string{labelNamespace, labelTenant})
)

// letheCollectors are every collector of lethe_* metrics.
var letheCollectors = []prometheus.Collector{
	retentionRowsMatched, retentionRowsChanged, retentionRunsCompleted, retentionRunFailures,
	retentionRunSeconds, retentionBatchSeconds,
	tenantConnected, tenantAuditChainIntact, tenantUncoveredColumns,
	requestMetrics, poolMetrics,
}

func init() {
	metrics.Registry.MustRegister(letheCollectors...)
}

// MetricNames lists the name of every lethe_* metric the manager exports
// (histograms by their base name), for the tests of the alerting rules and
// the dashboard.
func MetricNames() []string {
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range letheCollectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	var names []string
	for d := range ch {
		// Desc has no accessor for its name; its String form starts with
		// `Desc{fqName: "name", ...`.
		s := d.String()
		if _, rest, ok := strings.Cut(s, `fqName: "`); ok {
			if name, _, ok := strings.Cut(rest, `"`); ok {
				names = append(names, name)
			}
		}
	}
	return names
}

// boolGauge is 1 for true and 0 for false.
func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// observeTenant sets a TenantDatabase's gauges from the status just
// computed for it.
func observeTenant(tdb *privacyv1alpha1.TenantDatabase) {
	ns, name := tdb.Namespace, tdb.Name
	st := &tdb.Status
	connected := meta.IsStatusConditionTrue(st.Conditions, privacyv1alpha1.ConditionConnected)
	tenantConnected.WithLabelValues(ns, name).Set(boolGauge(connected))
	switch c := meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionAuditChainIntact); {
	case c == nil || c.Status == metav1.ConditionUnknown:
		tenantAuditChainIntact.DeleteLabelValues(ns, name)
	default:
		tenantAuditChainIntact.WithLabelValues(ns, name).Set(boolGauge(c.Status == metav1.ConditionTrue))
	}
	if meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionUncoveredPersonalData) != nil {
		tenantUncoveredColumns.WithLabelValues(ns, name).Set(float64(len(st.UncoveredColumns)) + float64(st.UncoveredColumnsOmitted))
	}
}

// forgetTenant deletes a deleted TenantDatabase's series.
func forgetTenant(key types.NamespacedName) {
	l := prometheus.Labels{labelNamespace: key.Namespace, labelTenant: key.Name}
	tenantConnected.DeletePartialMatch(l)
	tenantAuditChainIntact.DeletePartialMatch(l)
	tenantUncoveredColumns.DeletePartialMatch(l)
	retentionRowsMatched.DeletePartialMatch(l)
	retentionRowsChanged.DeletePartialMatch(l)
	retentionRunFailures.DeletePartialMatch(l)
}

// forgetPolicy deletes a deleted RetentionPolicy's series.
func forgetPolicy(key types.NamespacedName) {
	runTallies.forget(key)
	l := prometheus.Labels{labelNamespace: key.Namespace, labelPolicy: key.Name}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{retentionRowsMatched, retentionRowsChanged, retentionRunsCompleted, retentionRunFailures, retentionRunSeconds, retentionBatchSeconds} {
		v.DeletePartialMatch(l)
	}
}

// runTally remembers, for each policy's current run, the rows already
// counted per target and rule and whether its completion was counted. A
// run's status holds running totals, and a reconcile that read the policy
// from a cache not yet updated carries the same run again from status
// older than what was counted: counting against the status alone would
// count those rows twice. After a restart the tally starts from status.
type runTally struct {
	mu   sync.Mutex
	runs map[types.NamespacedName]*tally
}

type tally struct {
	run       string
	rows      map[string][2]int64 // tenant/rule: matched, changed
	completed bool
}

var runTallies = &runTally{runs: map[types.NamespacedName]*tally{}}

// of returns the tally of the policy's current run, starting a new one
// when the run changed. The caller holds mu.
func (t *runTally) of(p *privacyv1alpha1.RetentionPolicy) *tally {
	key := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
	c := t.runs[key]
	if c == nil || c.run != p.Status.Run.ID {
		c = &tally{run: p.Status.Run.ID, rows: map[string][2]int64{}}
		t.runs[key] = c
	}
	return c
}

func (t *runTally) forget(key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.runs, key)
}

// countRuleRows adds what a rule's status counts gained to the rows
// counters: status holds a run's running totals per rule and target.
func countRuleRows(p *privacyv1alpha1.RetentionPolicy, tenant string, before, after *privacyv1alpha1.RetentionRuleStatus) {
	runTallies.mu.Lock()
	c := runTallies.of(p)
	key := tenant + "/" + after.Name
	counted := c.rows[key]
	c.rows[key] = [2]int64{max(counted[0], after.Matched), max(counted[1], after.Changed)}
	runTallies.mu.Unlock()
	if d := after.Matched - max(before.Matched, counted[0]); d > 0 {
		retentionRowsMatched.WithLabelValues(p.Namespace, p.Name, after.Name, tenant).Add(float64(d))
	}
	if d := after.Changed - max(before.Changed, counted[1]); d > 0 {
		retentionRowsChanged.WithLabelValues(p.Namespace, p.Name, after.Name, tenant).Add(float64(d))
	}
}

// countRunFailure counts a failed attempt of a policy's run in a target.
func countRunFailure(p *privacyv1alpha1.RetentionPolicy, tenant, reason string) {
	retentionRunFailures.WithLabelValues(p.Namespace, p.Name, tenant, reason).Inc()
}

// countRunCompleted counts a completed run, once, and how long it took
// since its scheduled time.
func countRunCompleted(p *privacyv1alpha1.RetentionPolicy, took time.Duration) {
	runTallies.mu.Lock()
	c := runTallies.of(p)
	first := !c.completed
	c.completed = true
	runTallies.mu.Unlock()
	if !first {
		return
	}
	retentionRunsCompleted.WithLabelValues(p.Namespace, p.Name).Inc()
	retentionRunSeconds.WithLabelValues(p.Namespace, p.Name).Observe(max(took, 0).Seconds())
}

// batchTimer is the executor's BatchDone for a policy: the step is the
// rule's name.
func batchTimer(p *privacyv1alpha1.RetentionPolicy) func(step string, took time.Duration) {
	ns, name := p.Namespace, p.Name
	return func(step string, took time.Duration) {
		retentionBatchSeconds.WithLabelValues(ns, name, step).Observe(took.Seconds())
	}
}

// Descriptors of the metrics computed at scrape time.
var (
	requestsDesc = prometheus.NewDesc("lethe_requests",
		"DataSubjectRequests (type: the request's type) and PseudonymizationJobs (type: Subject or Selector), by phase.",
		[]string{labelNamespace, labelKind, labelType, labelPhase}, nil)
	deadlineDesc = prometheus.NewDesc("lethe_request_deadline_seconds",
		"Seconds until the earliest deadline of the namespace's DataSubjectRequests not yet completed; negative once it passed. "+
			"Absent when every request is completed.",
		[]string{labelNamespace}, nil)
	overdueDesc = prometheus.NewDesc("lethe_requests_overdue",
		"DataSubjectRequests of the namespace not completed by their deadline.",
		[]string{labelNamespace}, nil)
	poolConnsDesc = prometheus.NewDesc("lethe_tenant_pool_connections",
		"Connections of the operator's pool for a tenant database, in use (acquired) or idle.",
		[]string{labelNamespace, labelTenant, labelState}, nil)
	poolMaxDesc = prometheus.NewDesc("lethe_tenant_pool_max_connections",
		"The most connections the operator's pool for a tenant database opens (spec.maxConnections).",
		[]string{labelNamespace, labelTenant}, nil)
)

// requestState is what the request metrics need of one object.
type requestState struct {
	namespace, kind, typ, phase string
	due                         time.Time // DataSubjectRequests not completed
}

// requestCollector holds the state of every request the reconcilers last
// wrote, and sums it per namespace when scraped.
type requestCollector struct {
	mu      sync.Mutex
	objects map[string]requestState // kind/namespace/name
	clock   atomic.Pointer[clock.PassiveClock]
}

var requestMetrics = &requestCollector{objects: map[string]requestState{}}

// setClock sets the clock deadlines are measured with: the
// DataSubjectRequest controller's.
func (c *requestCollector) setClock(clk clock.PassiveClock) {
	c.clock.Store(&clk)
}

func (c *requestCollector) now() time.Time {
	if p := c.clock.Load(); p != nil {
		return (*p).Now()
	}
	return time.Now()
}

func (c *requestCollector) set(kind string, key types.NamespacedName, s requestState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.objects[kind+"/"+key.String()] = s
}

func (c *requestCollector) forget(kind string, key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.objects, kind+"/"+key.String())
}

// observeRequest records a DataSubjectRequest's phase and deadline as its
// status now says.
func observeRequest(obj *privacyv1alpha1.DataSubjectRequest) {
	s := requestState{namespace: obj.Namespace, kind: "DataSubjectRequest", typ: string(obj.Spec.Type), phase: string(obj.Status.Phase)}
	if obj.Status.Phase != privacyv1alpha1.PhaseCompleted && obj.Status.DueTime != nil {
		s.due = obj.Status.DueTime.Time
	}
	requestMetrics.set(s.kind, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}, s)
}

// observeJob records a PseudonymizationJob's phase.
func observeJob(j *privacyv1alpha1.PseudonymizationJob) {
	typ := "Selector"
	if j.Spec.Subject != nil {
		typ = "Subject"
	}
	s := requestState{namespace: j.Namespace, kind: "PseudonymizationJob", typ: typ, phase: string(j.Status.Phase)}
	requestMetrics.set(s.kind, types.NamespacedName{Namespace: j.Namespace, Name: j.Name}, s)
}

func (c *requestCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- requestsDesc
	ch <- deadlineDesc
	ch <- overdueDesc
}

func (c *requestCollector) Collect(ch chan<- prometheus.Metric) {
	type group struct{ namespace, kind, typ, phase string }
	now := c.now()
	counts := map[group]int{}
	earliest := map[string]time.Time{}
	overdue := map[string]int{}
	c.mu.Lock()
	for _, s := range c.objects {
		counts[group{s.namespace, s.kind, s.typ, s.phase}]++
		if s.kind != "DataSubjectRequest" {
			continue
		}
		if _, ok := overdue[s.namespace]; !ok {
			overdue[s.namespace] = 0
		}
		if s.due.IsZero() {
			continue
		}
		if e, ok := earliest[s.namespace]; !ok || s.due.Before(e) {
			earliest[s.namespace] = s.due
		}
		if !now.Before(s.due) {
			overdue[s.namespace]++
		}
	}
	c.mu.Unlock()
	for g, n := range counts {
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.GaugeValue, float64(n), g.namespace, g.kind, g.typ, g.phase)
	}
	for ns, due := range earliest {
		ch <- prometheus.MustNewConstMetric(deadlineDesc, prometheus.GaugeValue, due.Sub(now).Seconds(), ns)
	}
	for ns, n := range overdue {
		ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(n), ns)
	}
}

// poolCollector reads the statistics of the operator's tenant pools when
// scraped.
type poolCollector struct {
	pools atomic.Pointer[tenantdb.Pools]
}

var poolMetrics = &poolCollector{}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConnsDesc
	ch <- poolMaxDesc
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	pools := c.pools.Load()
	if pools == nil {
		return
	}
	pools.Each(func(key string, st tenantdb.PoolStat) {
		ns, name, ok := strings.Cut(key, "/")
		if !ok {
			return
		}
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(st.InUse), ns, name, "in_use")
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(st.Idle), ns, name, "idle")
		ch <- prometheus.MustNewConstMetric(poolMaxDesc, prometheus.GaugeValue, float64(st.Max), ns, name)
	})
}
