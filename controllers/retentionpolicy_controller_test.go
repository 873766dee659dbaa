package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

// retentionPolicy builds a policy on both tenants that runs at 03:00 and
// now, through the run-now annotation.
func retentionPolicy(ns, name string, rules ...privacyv1alpha1.RetentionRule) *privacyv1alpha1.RetentionPolicy {
	return &privacyv1alpha1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{privacyv1alpha1.AnnotationRunNow: "1"}},
		Spec: privacyv1alpha1.RetentionPolicySpec{
			Targets:   privacyv1alpha1.Targets{Names: []string{"acme", "globex"}},
			Schedule:  "0 3 * * *",
			BatchSize: 2,
			Rules:     rules,
		},
	}
}

var (
	anonymizeClosedCustomers = privacyv1alpha1.RetentionRule{Name: "closed-customers", Entity: "customer",
		Age:        privacyv1alpha1.RetentionAge{Column: "closed_at", OlderThan: "90d"},
		Conditions: []privacyv1alpha1.RetentionCondition{{Column: "status", In: []string{"closed"}}},
		Action:     privacyv1alpha1.RetentionAnonymize}
	deleteOldLogins = privacyv1alpha1.RetentionRule{Name: "old-logins", Entity: "loginLog",
		Age:    privacyv1alpha1.RetentionAge{Column: "logged_in_at", OlderThan: "3mo"},
		Action: privacyv1alpha1.RetentionDelete}
)

const closedCustomersSQL = `SELECT count(*) FROM app.customers WHERE status = 'closed' AND closed_at < $1::timestamptz - interval '90 days'`

func getPolicy(ns, name string) *privacyv1alpha1.RetentionPolicy {
	GinkgoHelper()
	var p privacyv1alpha1.RetentionPolicy
	Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &p)).To(Succeed())
	return &p
}

// completedRun waits until the policy's run started by the run-now value
// completed, and returns the policy.
func completedRun(ns, name, runNow string) *privacyv1alpha1.RetentionPolicy {
	GinkgoHelper()
	var p *privacyv1alpha1.RetentionPolicy
	Eventually(func(g Gomega) {
		p = getPolicy(ns, name)
		g.Expect(p.Status.LastRunNow).To(Equal(runNow))
		g.Expect(p.Status.Run).NotTo(BeNil())
		g.Expect(p.Status.Run.Completed).To(BeTrue(), "status %+v", p.Status)
	}).WithTimeout(time.Minute).Should(Succeed())
	return p
}

func ruleStatus(p *privacyv1alpha1.RetentionPolicy, target, rule string) privacyv1alpha1.RetentionRuleStatus {
	GinkgoHelper()
	for _, t := range p.Status.Targets {
		if t.Name == target {
			for _, r := range t.Rules {
				if r.Name == rule {
					return r
				}
			}
		}
	}
	Fail("no status for rule " + rule + " in target " + target)
	return privacyv1alpha1.RetentionRuleStatus{}
}

func runNow(ns, name, value string) {
	GinkgoHelper()
	p := getPolicy(ns, name)
	p.Annotations[privacyv1alpha1.AnnotationRunNow] = value
	Expect(k8s.Update(ctx, p)).To(Succeed())
}

var _ = Describe("RetentionPolicy", func() {
	BeforeEach(func() { retentionClock.SetTime(time.Now()) })

	It("runs on request, changes every eligible row once in each target, and changes nothing the second time", func() {
		t := twoTenants()
		Expect(k8s.Create(ctx, retentionPolicy(t.ns, "retention", anonymizeClosedCustomers, deleteOldLogins))).To(Succeed())
		p := completedRun(t.ns, "retention", "1")
		at := p.Status.Run.ScheduledTime.Time
		for _, tenant := range []string{"acme", "globex"} {
			closed := ruleStatus(p, tenant, "closed-customers")
			Expect(closed.Changed).To(BeNumerically(">", 0))
			Expect(closed.Matched).To(Equal(closed.Changed))
			Expect(t.count(tenant, closedCustomersSQL+" AND name <> 'Anonymized'", at)).To(BeZero())
			Expect(t.count(tenant, "SELECT count(*) FROM app.customers WHERE name = 'Anonymized'")).To(Equal(closed.Changed))
			Expect(ruleStatus(p, tenant, "old-logins").Changed).To(BeNumerically(">", 0))
			Expect(t.count(tenant, "SELECT count(*) FROM app.login_logs WHERE logged_in_at < $1::timestamptz - interval '3 months'", at)).To(BeZero())
			Expect(t.count(tenant, "SELECT coalesce(sum(rows_affected), 0)::bigint FROM lethe.audit_log WHERE object_kind = 'RetentionPolicy' AND action = 'Anonymize'")).
				To(Equal(closed.Changed))
		}
		Expect(p.Status.Progress).To(Equal("4/4"))
		Expect(p.Status.LastScheduleTime).NotTo(BeNil())
		Expect(p.Status.NextScheduleTime).NotTo(BeNil())
		waitCondition(p, func() []metav1.Condition { return getPolicy(t.ns, "retention").Status.Conditions },
			privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(eventsOf(t.ns, "retention")).To(ContainSubstring(privacyv1alpha1.ReasonRunCompleted))

		runNow(t.ns, "retention", "2")
		p = completedRun(t.ns, "retention", "2")
		for _, tenant := range []string{"acme", "globex"} {
			Expect(ruleStatus(p, tenant, "closed-customers").Changed).To(BeZero())
			Expect(ruleStatus(p, tenant, "closed-customers").Matched).To(BeZero())
			Expect(ruleStatus(p, tenant, "old-logins").Changed).To(BeZero())
		}
	})

	It("starts a run at the scheduled time of its time zone", func() {
		t := twoTenants()
		p := retentionPolicy(t.ns, "nightly", deleteOldLogins)
		p.Annotations = nil
		p.Spec.TimeZone = ptr.To("Europe/Berlin")
		Expect(k8s.Create(ctx, p)).To(Succeed())
		created := getPolicy(t.ns, "nightly").CreationTimestamp.Time
		berlin, err := time.LoadLocation("Europe/Berlin")
		Expect(err).NotTo(HaveOccurred())
		local := created.In(berlin)
		next := time.Date(local.Year(), local.Month(), local.Day(), 3, 0, 0, 0, berlin)
		if !next.After(created) {
			next = next.AddDate(0, 0, 1)
		}
		Eventually(func(g Gomega) {
			st := getPolicy(t.ns, "nightly").Status
			g.Expect(st.NextScheduleTime).NotTo(BeNil())
			g.Expect(st.NextScheduleTime.Time.Equal(next)).To(BeTrue(), "next run %s; want %s", st.NextScheduleTime, next)
			g.Expect(st.Run).To(BeNil())
		}).Should(Succeed())

		retentionClock.SetTime(next.Add(time.Minute))
		poke := getPolicy(t.ns, "nightly")
		poke.Annotations = map[string]string{"test.lethe.dev/poke": "1"}
		Expect(k8s.Update(ctx, poke)).To(Succeed())
		Eventually(func(g Gomega) {
			st := getPolicy(t.ns, "nightly").Status
			g.Expect(st.Run).NotTo(BeNil())
			g.Expect(st.Run.ScheduledTime.Time.Equal(next)).To(BeTrue(), "run scheduled at %s; want %s", st.Run.ScheduledTime, next)
			g.Expect(st.Run.Completed).To(BeTrue())
			g.Expect(st.NextScheduleTime.Time.Equal(next.AddDate(0, 0, 1))).To(BeTrue())
		}).WithTimeout(time.Minute).Should(Succeed())
	})

	It("counts in a dry run and changes nothing, and starts nothing while suspended", func() {
		t := twoTenants()
		p := retentionPolicy(t.ns, "dry", anonymizeClosedCustomers)
		p.Spec.DryRun = true
		Expect(k8s.Create(ctx, p)).To(Succeed())
		p = completedRun(t.ns, "dry", "1")
		at := p.Status.Run.ScheduledTime.Time
		Expect(p.Status.Run.DryRun).To(BeTrue())
		for _, tenant := range []string{"acme", "globex"} {
			want := t.count(tenant, closedCustomersSQL, at)
			Expect(want).To(BeNumerically(">", 0))
			Expect(ruleStatus(p, tenant, "closed-customers").Matched).To(Equal(want))
			Expect(ruleStatus(p, tenant, "closed-customers").Changed).To(BeZero())
			Expect(t.count(tenant, "SELECT count(*) FROM app.customers WHERE name = 'Anonymized'")).To(BeZero())
		}

		s := retentionPolicy(t.ns, "suspended", anonymizeClosedCustomers)
		s.Spec.Suspend = true
		Expect(k8s.Create(ctx, s)).To(Succeed())
		got := getPolicy(t.ns, "suspended")
		waitCondition(got, func() []metav1.Condition { return getPolicy(t.ns, "suspended").Status.Conditions },
			privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSuspended)
		Expect(getPolicy(t.ns, "suspended").Status.Run).To(BeNil())
		Expect(t.count("acme", "SELECT count(*) FROM app.customers WHERE name = 'Anonymized'")).To(BeZero())
	})

	It("stalls on a rule the schema cannot satisfy, naming it", func() {
		t := twoTenants()
		bad := anonymizeClosedCustomers
		bad.Age.Column = "closed_on"
		Expect(k8s.Create(ctx, retentionPolicy(t.ns, "bad", bad))).To(Succeed())
		c := waitCondition(getPolicy(t.ns, "bad"), func() []metav1.Condition { return getPolicy(t.ns, "bad").Status.Conditions },
			privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonRuleInvalid)
		Expect(c.Message).To(ContainSubstring("rule closed-customers: column app.customers.closed_on of age does not exist"))
		Expect(getPolicy(t.ns, "bad").Status.Run).To(BeNil())
	})

	It("refuses rules the API can tell are wrong", func() {
		ns := newNamespace()
		two := anonymizeClosedCustomers
		two.Conditions = []privacyv1alpha1.RetentionCondition{{Column: "status", In: []string{"closed"}, IsNull: true}}
		err := k8s.Create(ctx, retentionPolicy(ns, "two-ops", two))
		Expect(err).To(MatchError(ContainSubstring("a condition sets exactly one of in, notIn, isNull: true and isNotNull: true")))

		archive := anonymizeClosedCustomers
		archive.Archive = &privacyv1alpha1.ArchiveOptions{Then: privacyv1alpha1.ArchiveThenDelete}
		err = k8s.Create(ctx, retentionPolicy(ns, "archive", archive))
		Expect(err).To(MatchError(ContainSubstring("archive applies only to action Archive")))
	})

	It("resumes a run stopped at three batches and changes each row exactly once", func() {
		t := twoTenants()
		t.exec("acme", `CREATE TABLE app.updates (id bigint);
			CREATE FUNCTION app.count_update() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN INSERT INTO app.updates VALUES (NEW.id); RETURN NEW; END $$;
			CREATE TRIGGER count_update AFTER UPDATE ON app.customers FOR EACH ROW EXECUTE FUNCTION app.count_update();
			GRANT INSERT ON app.updates TO `+pgtest.AppUser)
		var stops atomic.Int32
		var mu sync.Mutex // the rule's two workers call the hook at once
		stopped := map[int]bool{}
		hook := func(rule string, batch int) error {
			mu.Lock()
			defer mu.Unlock()
			if (batch == 0 || batch == 1 || batch == 2) && !stopped[batch] && rule == "closed-customers" {
				stopped[batch] = true
				stops.Add(1)
				return errors.New("manager stopped")
			}
			return nil
		}
		retentionHook.Store(&hook)
		DeferCleanup(func() { retentionHook.Store(nil) })
		p := retentionPolicy(t.ns, "resumed", anonymizeClosedCustomers)
		p.Spec.Targets.Names = []string{"acme"}
		p.Spec.BatchSize = 1
		Expect(k8s.Create(ctx, p)).To(Succeed())
		p = completedRun(t.ns, "resumed", "1")
		Expect(stops.Load()).To(BeEquivalentTo(3))
		want := t.count("acme", closedCustomersSQL, p.Status.Run.ScheduledTime.Time)
		Expect(want).To(BeNumerically(">=", 3))
		Expect(ruleStatus(p, "acme", "closed-customers").Changed).To(Equal(want))
		Expect(t.count("acme", "SELECT count(*) FROM app.updates")).To(Equal(want))
		Expect(t.count("acme", "SELECT count(DISTINCT id) FROM app.updates")).To(Equal(want))
	})

	It("retries rows another transaction holds, then counts and reports them", func() {
		t := twoTenants()
		conn, err := pgx.Connect(ctx, pg.AdminDSN(t.dbs["acme"].Name))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = conn.Close(context.Background()) })
		tx, err := conn.Begin(ctx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = tx.Rollback(context.Background()) })
		_, err = tx.Exec(ctx, "SELECT 1 FROM app.customers WHERE id = (SELECT min(id) FROM app.customers WHERE status = 'closed' AND closed_at < now() - interval '90 days') FOR UPDATE")
		Expect(err).NotTo(HaveOccurred())

		p := retentionPolicy(t.ns, "locked", anonymizeClosedCustomers)
		p.Spec.Targets.Names = []string{"acme"}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		p = completedRun(t.ns, "locked", "1")
		st := ruleStatus(p, "acme", "closed-customers")
		Expect(st.Locked).To(BeEquivalentTo(1))
		Expect(st.Changed).To(Equal(st.Matched - 1))
		Expect(eventsOf(t.ns, "locked")).To(ContainSubstring(privacyv1alpha1.ReasonRowsLocked))
		Expect(tx.Rollback(ctx)).To(Succeed())

		runNow(t.ns, "locked", "2")
		p = completedRun(t.ns, "locked", "2")
		Expect(ruleStatus(p, "acme", "closed-customers").Changed).To(BeEquivalentTo(1))
	})

	It("archives rows and records the archive's digest", func() {
		t := twoTenants()
		p := retentionPolicy(t.ns, "archive", privacyv1alpha1.RetentionRule{Name: "inactive-contacts", Entity: "contactPerson",
			Age:    privacyv1alpha1.RetentionAge{Column: "last_activity_at", OlderThan: "18mo"},
			Action: privacyv1alpha1.RetentionArchive, Archive: &privacyv1alpha1.ArchiveOptions{Then: privacyv1alpha1.ArchiveThenDelete}})
		Expect(k8s.Create(ctx, p)).To(Succeed())
		p = completedRun(t.ns, "archive", "1")
		st := ruleStatus(p, "acme", "inactive-contacts")
		Expect(st.Matched).To(BeNumerically(">", 0))
		Expect(st.ArchiveSHA256).To(MatchRegexp("^[0-9a-f]{64}$"))
		Expect(t.query("acme", `SELECT encode(sha256(convert_to(string_agg(csv, '' ORDER BY batch), 'UTF8')), 'hex')
			FROM lethe.retention_archives WHERE run_id = $1 AND rule = 'inactive-contacts'`, p.Status.Run.ID)).To(Equal(st.ArchiveSHA256))
		Expect(t.count("acme", "SELECT count(*) FROM app.contact_persons WHERE last_activity_at < $1::timestamptz - interval '18 months'",
			p.Status.Run.ScheduledTime.Time)).To(BeZero())
	})

	It("skips the rows of a restricted subject", func() {
		t := twoTenants()
		email := t.query("acme", "SELECT email FROM app.customers WHERE status = 'closed' AND closed_at < now() - interval '90 days' ORDER BY id LIMIT 1").(string)
		t.identifiersSecret("who", map[string]string{"email": email})
		Expect(k8s.Create(ctx, t.request("restrict", privacyv1alpha1.RequestRestriction, "who"))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(t.count("acme", "SELECT count(*) FROM lethe.restricted_rows WHERE entity = 'customer'")).To(BeEquivalentTo(1))
		}).WithTimeout(time.Minute).Should(Succeed())

		p := retentionPolicy(t.ns, "skip", anonymizeClosedCustomers)
		p.Spec.Targets.Names = []string{"acme"}
		Expect(k8s.Create(ctx, p)).To(Succeed())
		p = completedRun(t.ns, "skip", "1")
		want := t.count("acme", closedCustomersSQL, p.Status.Run.ScheduledTime.Time)
		Expect(ruleStatus(p, "acme", "closed-customers").Changed).To(Equal(want - 1))
		Expect(t.count("acme", "SELECT count(*) FROM app.customers WHERE email = $1 AND name <> 'Anonymized'", email)).To(BeEquivalentTo(1))
		raw, err := yaml.Marshal(getPolicy(t.ns, "skip").Status)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Contains(string(raw)+eventsOf(t.ns, "skip"), email)).To(BeFalse())
	})
})

var _ = Describe("RetentionPolicy samples", func() {
	BeforeEach(func() { retentionClock.SetTime(time.Now()) })

	It("run the customer-service sample on the sample tenants, every rule compiling", func() {
		t := twoTenants()
		var p privacyv1alpha1.RetentionPolicy
		Expect(yaml.UnmarshalStrict(sampleDocuments("privacy_v1alpha1_retentionpolicy.yaml")[0], &p)).To(Succeed())
		p.Namespace = t.ns
		p.Annotations = map[string]string{privacyv1alpha1.AnnotationRunNow: "1"}
		Expect(k8s.Create(ctx, &p)).To(Succeed())
		done := completedRun(t.ns, p.Name, "1")
		Expect(done.Status.LastError).To(BeEmpty())
		Expect(done.Status.Progress).To(Equal(fmt.Sprintf("%d/%d", 2*len(p.Spec.Rules), 2*len(p.Spec.Rules))))
		for _, r := range p.Spec.Rules {
			Expect(ruleStatus(done, "acme", r.Name).Done).To(BeTrue(), r.Name)
		}
		Expect(ruleStatus(done, "acme", "event-log-identities").Changed).To(BeNumerically(">", 0))
		Expect(t.count("acme", "SELECT count(*) FROM app.event_logs WHERE occurred_at < $1::timestamptz - interval '30 days' AND (ip_address IS NOT NULL OR email IS NOT NULL OR user_name IS NOT NULL)",
			done.Status.Run.ScheduledTime.Time)).To(BeZero())
	})

	It("accept the second application's inventory and policy", func() {
		ns := newNamespace()
		docs := sampleDocuments("retention/erp.yaml")
		var inv privacyv1alpha1.DataInventory
		Expect(yaml.UnmarshalStrict(docs[0], &inv)).To(Succeed())
		inv.Namespace = ns
		Expect(k8s.Create(ctx, &inv)).To(Succeed())
		var p privacyv1alpha1.RetentionPolicy
		Expect(yaml.UnmarshalStrict(docs[1], &p)).To(Succeed())
		p.Namespace = ns
		Expect(k8s.Create(ctx, &p)).To(Succeed())
	})
})

var _ = Describe("A run asked for while another ran", func() {
	It("starts once the run under way completes, not at the next scheduled time", func() {
		now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		next := metav1.NewTime(now.Add(18 * time.Hour))
		p := retentionPolicy("ns", "p", anonymizeClosedCustomers)
		p.Status = privacyv1alpha1.RetentionPolicyStatus{LastRunNow: "1", NextScheduleTime: &next,
			Run: &privacyv1alpha1.RetentionRun{ID: "run-1", Completed: true}}
		r := &RetentionPolicyReconciler{}
		p.Annotations[privacyv1alpha1.AnnotationRunNow] = "1"
		Expect(r.idle(p, now).RequeueAfter).To(Equal(18*time.Hour), "nothing asked for: the next scheduled time")
		p.Annotations[privacyv1alpha1.AnnotationRunNow] = "2"
		Expect(r.idle(p, now).RequeueAfter).To(BeNumerically("<", time.Second), "run-now 2 came during run 1")
		p.Spec.Suspend = true
		Expect(r.idle(p, now).RequeueAfter).To(BeZero(), "a suspended policy waits for spec.suspend to be cleared")
	})
})
