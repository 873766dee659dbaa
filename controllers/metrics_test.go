package controllers

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// freeLoopbackAddress returns a loopback address with a port nothing
// listens on.
func freeLoopbackAddress() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	Expect(l.Close()).To(Succeed())
	return addr
}

// waitForListener waits until something accepts connections at addr.
func waitForListener(addr string) {
	Eventually(func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err
	}, timeout, interval).Should(Succeed())
}

// serviceAccountToken creates a ServiceAccount in ns and returns a token
// for it; when role names a ClusterRole file of config/rbac, the account
// is bound to that role (created under a name of its own for this test).
func serviceAccountToken(ns, name, roleFile string) string {
	GinkgoHelper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	Expect(k8s.Create(ctx, sa)).To(Succeed())
	if roleFile != "" {
		raw, err := os.ReadFile(filepath.Join("..", "config", "rbac", roleFile)) // #nosec G304 -- a role file of config/rbac the test names
		Expect(err).NotTo(HaveOccurred())
		var role rbacv1.ClusterRole
		Expect(yaml.UnmarshalStrict(raw, &role)).To(Succeed())
		role.Name = ns + "-" + role.Name
		Expect(k8s.Create(ctx, &role)).To(Succeed())
		Expect(k8s.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
		})).To(Succeed())
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	Expect(k8s.SubResource("token").Create(ctx, sa, tr)).To(Succeed())
	Expect(tr.Status.Token).NotTo(BeEmpty())
	return tr.Status.Token
}

// scrapeStatus GETs the metrics endpoint with a bearer token (none when
// empty) and returns the HTTP status and the body.
func scrapeStatus(token string) (int, *http.Response) {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The suite's manager serves a self-signed certificate.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // #nosec G402 -- test client of a self-signed loopback server
	resp, err := c.Do(req)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, resp
}

// scrape reads every metric family from the endpoint.
func scrape(token string) map[string]*dto.MetricFamily {
	GinkgoHelper()
	code, resp := scrapeStatus(token)
	defer func() { _ = resp.Body.Close() }()
	Expect(code).To(Equal(http.StatusOK))
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return families
}

// series finds the series of a family whose labels include want.
func series(families map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := families[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's or gauge's value, or a histogram's count; absent
// is the value of a series that is not there.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	m := series(families, name, want)
	switch {
	case m == nil:
		return absent
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return absent
}

// absent stands for a series the endpoint does not serve.
const absent = -1e308

var _ = Describe("Metrics", func() {
	BeforeEach(func() {
		retentionClock.SetTime(time.Now())
	})

	It("are served over HTTPS only to a client allowed to read them", func() {
		ns := newNamespace()
		code, resp := scrapeStatus("")
		Expect(resp.Body.Close()).To(Succeed())
		Expect(code).To(Equal(http.StatusUnauthorized), "a request without a token is refused")
		code, resp = scrapeStatus(serviceAccountToken(ns, "nobody", ""))
		Expect(resp.Body.Close()).To(Succeed())
		Expect(code).To(Equal(http.StatusForbidden), "a service account without the metrics-reader role is refused")
		token := serviceAccountToken(ns, "prometheus", "metrics_reader_role.yaml")
		Expect(k8s.Create(ctx, tenantDatabase(ns, "nowhere", "no-such-secret", "none"))).To(Succeed())
		expectCondition(ns, "nowhere", privacyv1alpha1.ConditionConnected, metav1.ConditionFalse, privacyv1alpha1.ReasonSecretNotFound)
		Expect(value(scrape(token), "lethe_tenant_connected", map[string]string{"namespace": ns, "tenant_database": "nowhere"})).To(Equal(0.0))

		insecure, err := http.Get("http://" + metricsURL[len("https://"):]) // #nosec G107 -- the test's own loopback address
		Expect(err).NotTo(HaveOccurred())
		Expect(insecure.Body.Close()).To(Succeed())
		Expect(insecure.StatusCode).To(Equal(http.StatusBadRequest), "plain HTTP is not served")
	})

	It("count a retention run's rows, batches and completion, and a tenant's health, as status says", func() {
		t := twoTenants()
		token := serviceAccountToken(t.ns, "prometheus", "metrics_reader_role.yaml")
		Expect(k8s.Create(ctx, retentionPolicy(t.ns, "retention", anonymizeClosedCustomers, deleteOldLogins))).To(Succeed())
		p := completedRun(t.ns, "retention", "1")

		m := scrape(token)
		for _, tenant := range []string{"acme", "globex"} {
			for _, rule := range []string{"closed-customers", "old-logins"} {
				rs := ruleStatus(p, tenant, rule)
				labels := map[string]string{"namespace": t.ns, "policy": "retention", "rule": rule, "tenant_database": tenant}
				Expect(rs.Changed).To(BeNumerically(">", 0))
				Expect(value(m, "lethe_retention_rows_changed_total", labels)).To(Equal(float64(rs.Changed)), "%s in %s", rule, tenant)
				Expect(value(m, "lethe_retention_rows_matched_total", labels)).To(Equal(float64(rs.Matched)), "%s in %s", rule, tenant)
			}
			Expect(value(m, "lethe_tenant_connected", map[string]string{"namespace": t.ns, "tenant_database": tenant})).To(Equal(1.0))
			Expect(value(m, "lethe_tenant_audit_chain_intact", map[string]string{"namespace": t.ns, "tenant_database": tenant})).To(Equal(1.0))
			var tdb privacyv1alpha1.TenantDatabase
			Expect(k8s.Get(ctx, keyOf(t.ns, tenant), &tdb)).To(Succeed())
			Expect(value(m, "lethe_tenant_uncovered_personal_columns", map[string]string{"namespace": t.ns, "tenant_database": tenant})).
				To(Equal(float64(len(tdb.Status.UncoveredColumns)) + float64(tdb.Status.UncoveredColumnsOmitted)))
			Expect(value(m, "lethe_tenant_pool_max_connections", map[string]string{"namespace": t.ns, "tenant_database": tenant})).
				To(BeNumerically(">", 0))
			Expect(value(m, "lethe_tenant_pool_connections", map[string]string{"namespace": t.ns, "tenant_database": tenant, "state": "in_use"})).
				To(BeNumerically(">=", 0))
		}
		policy := map[string]string{"namespace": t.ns, "policy": "retention"}
		Expect(value(m, "lethe_retention_runs_completed_total", policy)).To(Equal(1.0))
		Expect(value(m, "lethe_retention_run_duration_seconds", policy)).To(Equal(1.0))
		Expect(series(m, "lethe_retention_run_failures_total", policy)).To(BeNil())
		var batches int64
		for _, tenant := range []string{"acme", "globex"} {
			batches += t.count(tenant, "SELECT count(*) FROM lethe.run_batches WHERE run_uid = $1 AND step = 'closed-customers'", p.Status.Run.ID)
		}
		Expect(batches).To(BeNumerically(">", 0))
		Expect(value(m, "lethe_retention_batch_duration_seconds", map[string]string{"namespace": t.ns, "policy": "retention", "rule": "closed-customers"})).
			To(Equal(float64(batches)), "one observation per committed batch")

		By("a second run adds only what it changed: nothing")
		runNow(t.ns, "retention", "2")
		completedRun(t.ns, "retention", "2")
		m2 := scrape(token)
		labels := map[string]string{"namespace": t.ns, "policy": "retention", "rule": "closed-customers", "tenant_database": "acme"}
		Expect(value(m2, "lethe_retention_rows_changed_total", labels)).To(Equal(value(m, "lethe_retention_rows_changed_total", labels)))
		Expect(value(m2, "lethe_retention_runs_completed_total", policy)).To(Equal(2.0))

		By("a broken audit chain reads 0")
		t.exec("acme", "SET session_replication_role = replica; UPDATE lethe.audit_log SET actor = 'someone-else' WHERE id = 1")
		expectCondition(t.ns, "acme", privacyv1alpha1.ConditionAuditChainIntact, metav1.ConditionFalse, privacyv1alpha1.ReasonAuditChainBroken)
		Expect(value(scrape(token), "lethe_tenant_audit_chain_intact", map[string]string{"namespace": t.ns, "tenant_database": "acme"})).To(Equal(0.0))

		By("a tenant database whose Secret is gone reads not connected")
		Expect(k8s.Delete(ctx, secret(t.ns, "globex-db", nil))).To(Succeed())
		expectCondition(t.ns, "globex", privacyv1alpha1.ConditionConnected, metav1.ConditionFalse, privacyv1alpha1.ReasonSecretNotFound)
		Expect(value(scrape(token), "lethe_tenant_connected", map[string]string{"namespace": t.ns, "tenant_database": "globex"})).To(Equal(0.0))

		By("a deleted policy's and tenant database's series go with them")
		Expect(k8s.Delete(ctx, p)).To(Succeed())
		Expect(k8s.Delete(ctx, &privacyv1alpha1.TenantDatabase{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "globex"}})).To(Succeed())
		Eventually(func(g Gomega) {
			m := scrape(token)
			g.Expect(series(m, "lethe_retention_runs_completed_total", policy)).To(BeNil())
			g.Expect(series(m, "lethe_tenant_connected", map[string]string{"namespace": t.ns, "tenant_database": "globex"})).To(BeNil())
		}, timeout, interval).Should(Succeed())
	})

	It("count requests by kind, type and phase, and their deadlines per namespace", func() {
		t := twoTenants()
		token := serviceAccountToken(t.ns, "prometheus", "metrics_reader_role.yaml")
		email := t.query("acme", "SELECT email FROM app.customers ORDER BY id LIMIT 1").(string)
		t.identifiersSecret("who", map[string]string{"email": email})
		Expect(k8s.Create(ctx, t.request("access", privacyv1alpha1.RequestAccess, "who"))).To(Succeed())
		expectPhase(t.ns, "access", privacyv1alpha1.PhaseCompleted)

		late := t.request("late", privacyv1alpha1.RequestAccess, "who")
		late.Spec.ReceivedAt = &metav1.Time{Time: requestClock.Now().AddDate(0, 0, -40)}
		late.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(true)}
		Expect(k8s.Create(ctx, late)).To(Succeed())
		expectRequestCondition(t.ns, "late", privacyv1alpha1.ConditionOverdue, metav1.ConditionTrue, privacyv1alpha1.ReasonDeadlineExceeded)
		soon := t.request("soon", privacyv1alpha1.RequestDiscovery, "who")
		soon.Spec.ReceivedAt = &metav1.Time{Time: requestClock.Now().AddDate(0, 0, -26)}
		soon.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(true)}
		Expect(k8s.Create(ctx, soon)).To(Succeed())
		expectRequestCondition(t.ns, "soon", privacyv1alpha1.ConditionOverdue, metav1.ConditionFalse, privacyv1alpha1.ReasonDeadlineApproaching)
		lateDue := getRequest(t.ns, "late").Status.DueTime.Time

		m := scrape(token)
		requests := func(typ, phase string) float64 {
			return value(m, "lethe_requests", map[string]string{"namespace": t.ns, "kind": "DataSubjectRequest", "type": typ, "phase": phase})
		}
		Expect(requests("Access", "Completed")).To(Equal(1.0))
		Expect(requests("Access", "AwaitingApproval")).To(Equal(1.0))
		Expect(requests("Discovery", "AwaitingApproval")).To(Equal(1.0))
		Expect(value(m, "lethe_requests_overdue", map[string]string{"namespace": t.ns})).To(Equal(1.0))
		Expect(value(m, "lethe_request_deadline_seconds", map[string]string{"namespace": t.ns})).
			To(Equal(lateDue.Sub(requestClock.Now()).Seconds()), "the earliest deadline, already passed, is negative")
		Expect(lateDue.Before(requestClock.Now())).To(BeTrue())

		By("a deleted request is no longer counted")
		Expect(k8s.Delete(ctx, getRequest(t.ns, "late"))).To(Succeed())
		Eventually(func(g Gomega) {
			m := scrape(token)
			g.Expect(value(m, "lethe_requests_overdue", map[string]string{"namespace": t.ns})).To(Equal(0.0))
			g.Expect(value(m, "lethe_request_deadline_seconds", map[string]string{"namespace": t.ns})).
				To(Equal(getRequest(t.ns, "soon").Status.DueTime.Sub(requestClock.Now()).Seconds()))
		}, timeout, interval).Should(Succeed())
		Expect(fmt.Sprint(scrape(token))).NotTo(ContainSubstring(email))
	})
})
