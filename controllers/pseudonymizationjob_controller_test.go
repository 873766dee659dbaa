package controllers

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

// workforceDatabase creates a workforce management database (the schema of
// config/samples/pseudonymization/workforce.yaml) whose agents are the
// employees with the given employee ids, each with a few shifts.
func workforceDatabase(employeeIDs []string) pgtest.Database {
	GinkgoHelper()
	db, err := pg.CreateDatabase(ctx, "")
	Expect(err).NotTo(HaveOccurred())
	conn, err := pg.AppConn(ctx, db)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, `CREATE SCHEMA wfm;
		CREATE TABLE wfm.agents (id bigint PRIMARY KEY, employee_number text NOT NULL UNIQUE, first_name text NOT NULL,
			last_name text NOT NULL, login text NOT NULL UNIQUE, active boolean NOT NULL DEFAULT true, last_shift_at timestamptz);
		CREATE TABLE wfm.shifts (id bigint PRIMARY KEY, agent_id bigint NOT NULL REFERENCES wfm.agents (id),
			starts_at timestamptz NOT NULL, minutes integer NOT NULL);
		CREATE INDEX ON wfm.shifts (agent_id)`)
	Expect(err).NotTo(HaveOccurred())
	_, err = conn.Exec(ctx, `INSERT INTO wfm.agents (id, employee_number, first_name, last_name, login, last_shift_at)
		SELECT n, id, 'Agent' || n, 'Surname' || n, 'agent' || n, now() FROM unnest($1::text[]) WITH ORDINALITY AS a (id, n)`,
		employeeIDs)
	Expect(err).NotTo(HaveOccurred())
	_, err = conn.Exec(ctx, `INSERT INTO wfm.shifts SELECT a.id * 10 + s, a.id, now() - s * interval '1 day', 60 * s FROM wfm.agents a, generate_series(1, 3) s`)
	Expect(err).NotTo(HaveOccurred())
	return db
}

// appAndWorkforce is a namespace with the sample application (acme, with
// the customer-service inventory) and a workforce management database
// (acme-workforce, with the workforce inventory) knowing the same employees,
// both Ready, and a pseudonym key Secret.
func appAndWorkforce() tenants {
	GinkgoHelper()
	t := tenants{ns: newNamespace(), dbs: map[string]pgtest.Database{}}
	Expect(k8s.Create(ctx, sampleInventory(t.ns))).To(Succeed())
	var wfm privacyv1alpha1.DataInventory
	Expect(yaml.UnmarshalStrict(sampleDocuments("pseudonymization/workforce.yaml")[0], &wfm)).To(Succeed())
	wfm.Namespace = t.ns
	Expect(k8s.Create(ctx, &wfm)).To(Succeed())
	t.dbs["acme"] = sampleDatabase()
	var ids []string
	for _, v := range t.query("acme", "SELECT array_agg(employee_id ORDER BY id) FROM app.employees").([]any) {
		ids = append(ids, v.(string))
	}
	t.dbs["acme-workforce"] = workforceDatabase(ids)
	for name, inv := range map[string]string{"acme": "customer-service", "acme-workforce": "workforce"} {
		Expect(k8s.Create(ctx, secret(t.ns, name+"-db", t.dbs[name].SecretData()))).To(Succeed())
		Expect(k8s.Create(ctx, tenantDatabase(t.ns, name, name+"-db", inv))).To(Succeed())
	}
	for name := range t.dbs {
		expectCondition(t.ns, name, privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	}
	Expect(k8s.Create(ctx, secret(t.ns, "pseudonym-key", map[string][]byte{"key": []byte("0123456789abcdef0123456789abcdef")}))).To(Succeed())
	return t
}

func newJob(ns, name string, targets ...string) *privacyv1alpha1.PseudonymizationJob {
	return &privacyv1alpha1.PseudonymizationJob{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: privacyv1alpha1.PseudonymizationJobSpec{
			Targets: privacyv1alpha1.Targets{Names: targets},
			Pseudonym: privacyv1alpha1.PseudonymSettings{Mode: privacyv1alpha1.PseudonymKeyed,
				KeySecretRef: &privacyv1alpha1.SecretKeyReference{Name: "pseudonym-key", Key: "key"}},
		}}
}

func expectJob(ns, name, typ string, status metav1.ConditionStatus, reason string) *privacyv1alpha1.PseudonymizationJob {
	GinkgoHelper()
	j := &privacyv1alpha1.PseudonymizationJob{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	waitCondition(j, func() []metav1.Condition { return j.Status.Conditions }, typ, status, reason)
	return j
}

func jobStatusText(j *privacyv1alpha1.PseudonymizationJob) string {
	GinkgoHelper()
	raw, err := yaml.Marshal(j.Status)
	Expect(err).NotTo(HaveOccurred())
	return string(raw) + eventsOf(j.Namespace, j.Name)
}

// reports are the aggregates a workforce report reads: cases and handle
// time per agent id, and case counts per status.
func reports(t tenants) string {
	GinkgoHelper()
	return fmt.Sprint(t.query("acme", `SELECT string_agg(format('%s:%s:%s', assigned_employee_id, n, h), ',' ORDER BY assigned_employee_id)
		FROM (SELECT assigned_employee_id, count(*) n, sum(handle_time_seconds) h FROM app.cases GROUP BY 1) r`),
		t.query("acme", `SELECT string_agg(format('%s:%s', status, n), ',' ORDER BY status) FROM (SELECT status, count(*) n FROM app.cases GROUP BY 1) s`))
}

var _ = Describe("PseudonymizationJob", func() {
	BeforeEach(func() { jobClock.SetTime(sampleapp.ReferenceTime()) })

	It("gives one departed employee the same pseudonyms in two systems, deactivates them, and a second job changes nothing", func() {
		t := appAndWorkforce()
		Expect(k8s.Create(ctx, secret(t.ns, "departed", map[string][]byte{"employeeId": []byte("E10002")}))).To(Succeed())
		before := reports(t)
		j := newJob(t.ns, "departed", "acme", "acme-workforce")
		j.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{IdentifierSecretRef: &privacyv1alpha1.SecretKeyReference{Name: "departed", Key: "employeeId"}}
		j.Spec.Deactivate = true
		Expect(k8s.Create(ctx, j)).To(Succeed())
		j = expectJob(t.ns, "departed", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonJobSucceeded)

		Expect(j.Status.Phase).To(Equal(privacyv1alpha1.JobSucceeded))
		Expect(j.Status.Progress.Summary).To(Equal("2/2"))
		Expect(j.Status.Progress.Percent).To(Equal(int32(100)))
		Expect(j.Status.SubjectDigest).To(HavePrefix("sha256:"))
		app := fmt.Sprint(t.query("acme", "SELECT format('%s %s %s %s %s', employee_id, first_name, last_name, user_name, active) FROM app.employees WHERE id = 2"))
		wfm := fmt.Sprint(t.query("acme-workforce", "SELECT format('%s %s %s %s %s', employee_number, first_name, last_name, login, active) FROM wfm.agents WHERE id = 2"))
		Expect(app).To(MatchRegexp(`^EMP-[0-9]+ F_[0-9]+ L_[0-9]+ user-[0-9a-f]{8} f$`))
		Expect(wfm).To(Equal(app))
		Expect(t.count("acme", "SELECT count(*) FROM app.employees WHERE first_name LIKE 'F\\_%' OR NOT active AND left_at IS NULL")).To(Equal(int64(1)))
		Expect(t.count("acme-workforce", "SELECT count(*) FROM wfm.agents WHERE first_name LIKE 'F\\_%' OR NOT active")).To(Equal(int64(1)))
		Expect(reports(t)).To(Equal(before))
		for name := range t.dbs {
			Expect(t.count(name, "SELECT count(*) FROM lethe.audit_log WHERE object_kind = 'PseudonymizationJob' AND subject_digest = $1 AND rows_affected = 1",
				j.Status.SubjectDigest)).To(Equal(int64(1)), name)
		}
		Expect(jobStatusText(j)).NotTo(ContainSubstring("E10002"))
		Expect(managerLog.String()).NotTo(ContainSubstring("E10002"), "the manager logged the identifier")

		again := newJob(t.ns, "again", "acme", "acme-workforce")
		again.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{IdentifierSecretRef: &privacyv1alpha1.SecretKeyReference{Name: "departed", Key: "employeeId"}}
		Expect(k8s.Create(ctx, again)).To(Succeed())
		again = expectJob(t.ns, "again", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonJobSucceeded)
		Expect(again.Status.Progress.Summary).To(Equal("0/0"))
		Expect(fmt.Sprint(t.query("acme", "SELECT format('%s %s %s %s %s', employee_id, first_name, last_name, user_name, active) FROM app.employees WHERE id = 2"))).To(Equal(app))
	})

	It("pseudonymizes the inactive employees a selector picks at the job's start, resuming after a failure, with reports unchanged", func() {
		t := appAndWorkforce()
		jobClock.SetTime(sampleapp.ReferenceTime().AddDate(0, 3, 0))
		t.exec("acme", `CREATE TABLE app.updates (id bigint); GRANT INSERT ON app.updates TO PUBLIC;
			CREATE FUNCTION app.count_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO app.updates VALUES (NEW.id); RETURN NEW; END $$;
			CREATE TRIGGER count_update AFTER UPDATE ON app.employees FOR EACH ROW EXECUTE FUNCTION app.count_update()`)
		const eligible = "SELECT count(*) FROM app.employees WHERE NOT active AND last_login_at < $1::timestamptz - interval '6 months'"
		want := t.count("acme", eligible, jobClock.Now())
		Expect(want).To(BeNumerically(">", 0))
		Expect(want).To(BeNumerically("<", t.count("acme", "SELECT count(*) FROM app.employees")))
		before := reports(t)
		var failures atomic.Int32
		hook := func(_ string, batch int) error {
			if batch == 1 && failures.Add(1) == 1 {
				return fmt.Errorf("the manager stopped")
			}
			return nil
		}
		jobHook.Store(&hook)
		DeferCleanup(func() { jobHook.Store(nil) })

		j := newJob(t.ns, "inactive", "acme", "acme-workforce")
		j.Spec.BatchSize = 1
		j.Spec.Selector = &privacyv1alpha1.PseudonymizationSelector{Entity: "employee",
			Age:        privacyv1alpha1.RetentionAge{Column: "last_login_at", OlderThan: "6mo"},
			Conditions: []privacyv1alpha1.RetentionCondition{{Column: "active", In: []string{"false"}}}}
		Expect(k8s.Create(ctx, j)).To(Succeed())
		// The clock moves on: the job keeps the selection of its start.
		jobClock.SetTime(sampleapp.ReferenceTime().AddDate(1, 0, 0))
		j = expectJob(t.ns, "inactive", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonJobSucceeded)

		Expect(failures.Load()).To(BeNumerically(">=", 1))
		Expect(eventsOf(t.ns, "inactive")).To(ContainSubstring(privacyv1alpha1.ReasonJobFailed))
		Expect(j.Status.Progress.Summary).To(Equal(fmt.Sprintf("%d/%d", want, want)))
		Expect(j.Status.Targets).To(HaveLen(1), "the workforce inventory has no entity employee")
		Expect(t.count("acme", "SELECT count(*) FROM app.updates")).To(Equal(want))
		Expect(t.count("acme", "SELECT count(DISTINCT id) FROM app.updates")).To(Equal(want))
		Expect(t.count("acme", "SELECT count(*) FROM app.employees e JOIN app.updates u USING (id) WHERE e.first_name LIKE 'F\\_%' AND NOT e.active")).To(Equal(want))
		Expect(reports(t)).To(Equal(before))
	})

	It("keeps a unique column unique when every pseudonym collides", func() {
		t := appAndWorkforce()
		total := t.count("acme", "SELECT count(*) FROM app.employees")
		j := newJob(t.ns, "collide", "acme")
		j.Spec.BatchSize = 7
		j.Spec.Selector = &privacyv1alpha1.PseudonymizationSelector{Entity: "employee",
			Age: privacyv1alpha1.RetentionAge{Column: "hired_at", OlderThan: "1d"}}
		// One hex digit: 16 values for every employee, in a unique column.
		j.Spec.Pseudonym.Fields = []privacyv1alpha1.PseudonymField{{Column: "user_name", Format: "{hex:1}"}}
		Expect(k8s.Create(ctx, j)).To(Succeed())
		j = expectJob(t.ns, "collide", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonJobSucceeded)
		Expect(j.Status.Progress.Summary).To(Equal(fmt.Sprintf("%d/%d", total, total)))
		Expect(t.count("acme", "SELECT count(DISTINCT user_name) FROM app.employees WHERE user_name ~ '^[0-9a-f](_[0-9]+)?$'")).To(Equal(total))
		Expect(t.count("acme", "SELECT count(*) FROM app.employees WHERE user_name ~ '^[0-9a-f]_[0-9]+$'")).To(BeNumerically(">", 0))
	})

	It("waits, naming the Secret, while the key Secret is missing, and changes nothing", func() {
		t := appAndWorkforce()
		j := newJob(t.ns, "no-key", "acme")
		j.Spec.Pseudonym.KeySecretRef.Name = "missing-key"
		j.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{Identifier: "E10003"}
		Expect(k8s.Create(ctx, j)).To(Succeed())
		c := expectJob(t.ns, "no-key", privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, privacyv1alpha1.ReasonKeySecretNotFound)
		Expect(meta.FindStatusCondition(c.Status.Conditions, privacyv1alpha1.ConditionReconciling).Message).To(ContainSubstring("missing-key"))
		Expect(meta.IsStatusConditionTrue(c.Status.Conditions, privacyv1alpha1.ConditionStalled)).To(BeFalse(), "it waits for the Secret")
		Expect(t.count("acme", "SELECT count(*) FROM app.employees WHERE first_name LIKE 'F\\_%'")).To(BeZero())
	})

	It("keeps a Random job's mapping in its own Secret, and only there", func() {
		t := appAndWorkforce()
		j := newJob(t.ns, "random", "acme", "acme-workforce")
		j.Spec.Pseudonym = privacyv1alpha1.PseudonymSettings{Mode: privacyv1alpha1.PseudonymRandom, Mapping: privacyv1alpha1.MappingRetain}
		j.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{IdentifierSecretRef: &privacyv1alpha1.SecretKeyReference{Name: "departed", Key: "employeeId"}}
		Expect(k8s.Create(ctx, secret(t.ns, "departed", map[string][]byte{"employeeId": []byte("E10004")}))).To(Succeed())
		Expect(k8s.Create(ctx, j)).To(Succeed())
		j = expectJob(t.ns, "random", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonJobSucceeded)

		app := fmt.Sprint(t.query("acme", "SELECT format('%s %s %s', employee_id, first_name, user_name) FROM app.employees WHERE id = 4"))
		Expect(fmt.Sprint(t.query("acme-workforce", "SELECT format('%s %s %s', employee_number, first_name, login) FROM wfm.agents WHERE id = 4"))).To(Equal(app))
		pseudonym := strings.Fields(app)[0]
		Expect(pseudonym).To(HavePrefix("EMP-"))
		s := getSecret(t.ns, "random-pseudonyms")
		Expect(j.Status.KeySecretName).To(Equal(s.Name))
		Expect(s.OwnerReferences).To(HaveLen(1))
		Expect(s.OwnerReferences[0].UID).To(Equal(j.UID))
		var mapping map[string]string
		Expect(json.Unmarshal(s.Data["mapping.json"], &mapping)).To(Succeed())
		Expect(mapping).To(Equal(map[string]string{pseudonym: "E10004"}))
		Expect(jobStatusText(j)).NotTo(ContainSubstring("E10004"))
		Expect(managerLog.String()).NotTo(ContainSubstring("E10004"), "the mapping is only in its Secret")

		// A second Random job gives another person unrelated pseudonyms:
		// its key is its own.
		other := newJob(t.ns, "random-discard", "acme", "acme-workforce")
		other.Spec.Pseudonym = privacyv1alpha1.PseudonymSettings{Mode: privacyv1alpha1.PseudonymRandom, Mapping: privacyv1alpha1.MappingDiscard}
		other.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{Identifier: "E10005"}
		Expect(k8s.Create(ctx, other)).To(Succeed())
		other = expectJob(t.ns, "random-discard", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonJobSucceeded)
		Expect(other.Status.Progress.Summary).To(Equal("2/2"))
		Expect(fmt.Sprint(t.query("acme", "SELECT employee_id FROM app.employees WHERE id = 5"))).To(HavePrefix("EMP-"))
		var gone corev1.Secret
		err := k8s.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: "random-discard-pseudonyms"}, &gone)
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the key of a Discard job is deleted: %v", err)
		Expect(eventsOf(t.ns, "random-discard")).To(ContainSubstring(privacyv1alpha1.ReasonKeyDiscarded))
	})

	It("carries out a DataSubjectRequest of type Pseudonymization, once approved, through a job it owns", func() {
		t := appAndWorkforce()
		Expect(k8s.Create(ctx, secret(t.ns, "who", map[string][]byte{"employeeId": []byte("E10006")}))).To(Succeed())
		req := &privacyv1alpha1.DataSubjectRequest{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "pseudo"},
			Spec: privacyv1alpha1.DataSubjectRequestSpec{Type: privacyv1alpha1.RequestPseudonymization,
				Subject: privacyv1alpha1.RequestSubject{Type: "employee", IdentifiersSecretRef: &privacyv1alpha1.LocalObjectReference{Name: "who"}},
				Targets: privacyv1alpha1.Targets{Names: []string{"acme", "acme-workforce"}},
				Pseudonymization: &privacyv1alpha1.PseudonymizationOptions{Deactivate: true,
					Pseudonym: privacyv1alpha1.PseudonymSettings{Mode: privacyv1alpha1.PseudonymKeyed,
						KeySecretRef: &privacyv1alpha1.SecretKeyReference{Name: "pseudonym-key", Key: "key"}}}}}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		expectPhase(t.ns, "pseudo", privacyv1alpha1.PhaseAwaitingApproval)
		Expect(t.count("acme", "SELECT count(*) FROM app.employees WHERE id = 6 AND employee_id = 'E10006'")).To(Equal(int64(1)))
		approve(t.ns, "pseudo")
		done := expectPhase(t.ns, "pseudo", privacyv1alpha1.PhaseCompleted)
		expectRequestCondition(t.ns, "pseudo", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonCompleted)

		Expect(done.Status.JobName).To(Equal("pseudo"))
		var job privacyv1alpha1.PseudonymizationJob
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: "pseudo"}, &job)).To(Succeed())
		Expect(metav1.IsControlledBy(&job, done)).To(BeTrue())
		Expect(job.Spec.Subject.IdentifierSecretRef).To(Equal(&privacyv1alpha1.SecretKeyReference{Name: "who", Key: "employeeId"}))
		app := fmt.Sprint(t.query("acme", "SELECT format('%s %s %s', employee_id, first_name, active) FROM app.employees WHERE id = 6"))
		Expect(app).To(MatchRegexp(`^EMP-[0-9]+ F_[0-9]+ f$`))
		Expect(fmt.Sprint(t.query("acme-workforce", "SELECT format('%s %s %s', employee_number, first_name, active) FROM wfm.agents WHERE id = 6"))).To(Equal(app))
		Expect(entityOf(targetOf(done, "acme"), "employee").Changed).To(Equal(int64(1)))
		Expect(entityOf(targetOf(done, "acme-workforce"), "agent").Changed).To(Equal(int64(1)))
	})

	It("accepts every sample of config/samples/pseudonymization", func() {
		ns := newNamespace()
		for _, f := range []string{"workforce.yaml", "departed-employee.yaml", "inactive-employees.yaml", "random-with-mapping.yaml", "pseudonymization-request.yaml"} {
			for _, doc := range sampleDocuments("pseudonymization/" + f) {
				u := &unstructured.Unstructured{}
				Expect(yaml.Unmarshal(doc, &u.Object)).To(Succeed(), f)
				u.SetNamespace(ns)
				Expect(k8s.Create(ctx, u)).To(Succeed(), f)
			}
		}
	})

	It("refuses a Keyed job without a key and a Random job with one", func() {
		ns := newNamespace()
		j := newJob(ns, "keyless", "acme")
		j.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{Identifier: "E10003"}
		j.Spec.Pseudonym.KeySecretRef = nil
		err := k8s.Create(ctx, j)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("mode Keyed needs keySecretRef"))
		j = newJob(ns, "keyed-random", "acme")
		j.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{Identifier: "E10003"}
		j.Spec.Pseudonym.Mode = privacyv1alpha1.PseudonymRandom
		err = k8s.Create(ctx, j)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("mode Random makes its own key"))
		j = newJob(ns, "keyed-mapping", "acme")
		j.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{Identifier: "E10003"}
		j.Spec.Pseudonym.Mapping = privacyv1alpha1.MappingRetain
		err = k8s.Create(ctx, j)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("mapping applies to mode Random only"))
	})

	It("counts without changing anything in a dry run, and refuses a changed spec", func() {
		t := appAndWorkforce()
		j := newJob(t.ns, "dry", "acme", "acme-workforce")
		j.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{Identifier: "E10003"}
		j.Spec.DryRun = true
		Expect(k8s.Create(ctx, j)).To(Succeed())
		j = expectJob(t.ns, "dry", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonJobSucceeded)
		Expect(j.Status.Progress.Summary).To(Equal("2/2"))
		Expect(t.count("acme", "SELECT count(*) FROM app.employees WHERE first_name LIKE 'F\\_%'")).To(BeZero())
		Expect(eventsOf(t.ns, "dry")).To(ContainSubstring(privacyv1alpha1.ReasonInlineIdentifiers))
		j.Spec.DryRun = false
		err := k8s.Update(ctx, j)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("cannot change"))
		var none privacyv1alpha1.PseudonymizationJob
		Expect(k8s.Get(ctx, types.NamespacedName{Namespace: t.ns, Name: "dry"}, &none)).To(Succeed())
		Expect(strings.Contains(jobStatusText(&none), "E10003")).To(BeFalse())
	})
})
