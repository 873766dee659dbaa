package controllers

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/cli"
	"github.com/lethe-dev/lethe/internal/export"
)

// The kubectl plugin, run as `kubectl lethe` against the suite's API
// server through kubeconfigs, as its users run it.
var _ = Describe("kubectl lethe", Ordered, func() {
	var (
		t                 tenants
		admin, dpo, files string
	)
	lethe := func(kubeconfig string, args ...string) (int, string, string) {
		var out, errs bytes.Buffer
		code := cli.Main(ctx, append([]string{"/usr/local/bin/kubectl-lethe"}, append(args, "--kubeconfig", kubeconfig)...),
			cli.Env{Stdout: &out, Stderr: &errs, Getenv: func(string) string { return "" }, Version: "test"})
		return code, out.String(), errs.String()
	}
	BeforeAll(func() {
		retentionClock.SetTime(time.Now())
		t = twoTenants()
		files = GinkgoT().TempDir()
		admin, dpo = filepath.Join(files, "admin"), filepath.Join(files, "dpo")
		writeKubeconfig(admin, t.ns)
		approver() // binds the approver's roles
		writeKubeconfigAs(dpo, t.ns, "dpo-approver")
		email := t.query("acme", "SELECT email FROM app.customers ORDER BY id LIMIT 1").(string)
		t.identifiersSecret("who", map[string]string{"email": email})
	})

	It("approves a request as the kubeconfig's user, four eyes checked by the webhook", func() {
		r := t.request("access", privacyv1alpha1.RequestAccess, "who")
		r.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(true)}
		Expect(k8s.Create(ctx, r)).To(Succeed())
		expectPhase(t.ns, "access", privacyv1alpha1.PhaseAwaitingApproval)

		code, _, errs := lethe(admin, "approve", "access")
		Expect(code).To(Equal(1))
		Expect(errs).To(And(ContainSubstring("kubectl lethe: not approved: DataSubjectRequest access in namespace "+t.ns+": "),
			ContainSubstring(`admission webhook "datasubjectrequest.privacy.lethe.dev" denied the request`),
			ContainSubstring("cannot release it: four eyes are required")))
		Expect(getRequest(t.ns, "access").Spec.Approved()).To(BeFalse())

		code, out, errs := lethe(dpo, "approve", "access", "-n", t.ns)
		Expect(code).To(BeZero(), errs)
		Expect(out).To(MatchRegexp(`^approved DataSubjectRequest %s/access \(Access about subject sha256:[0-9a-f]{12}…, due \S+Z\) as dpo-approver\n$`, t.ns))
		expectPhase(t.ns, "access", privacyv1alpha1.PhaseCompleted)
		Expect(getRequest(t.ns, "access").Status.Approval.ApprovedBy).To(Equal("dpo-approver"))

		code, out, _ = lethe(dpo, "approve", "access")
		Expect(code).To(BeZero())
		Expect(out).To(ContainSubstring("is approved already, by dpo-approver"))
		Expect(k8s.Create(ctx, t.request("find", privacyv1alpha1.RequestDiscovery, "who"))).To(Succeed())
		code, out, _ = lethe(dpo, "approve", "find")
		Expect(code).To(BeZero())
		Expect(out).To(ContainSubstring("needs no approval (spec.approval.required: false)"))
		code, _, errs = lethe(dpo, "approve", "nobody")
		Expect(code).To(Equal(1))
		Expect(errs).To(ContainSubstring("DataSubjectRequest nobody not found in namespace " + t.ns))
	})

	It("exports an access package after checking every SHA-256 of its manifest, and writes nothing that does not check out", func() {
		r := getRequest(t.ns, "access")
		zipped := getSecret(t.ns, r.Status.Export.SecretRef.Name).Data[privacyv1alpha1.ExportSecretKey]
		file := filepath.Join(files, "access.zip")
		code, out, errs := lethe(admin, "export", "access", "-o", file)
		Expect(code).To(BeZero(), errs)
		Expect(out).To(BeEmpty())
		Expect(errs).To(MatchRegexp(`^wrote the access export of DataSubjectRequest %s/access \(subject sha256:[0-9a-f]{12}…, generated \S+Z\) to %s: `+
			`\d+ rows of \d+ entities from tenants acme; its SHA-256 and all \d+ files match status.export and manifest.json\n$`, t.ns, file))
		Expect(os.ReadFile(file)).To(Equal(zipped)) // #nosec G304 -- the test's own file
		info, err := os.Stat(file)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)), "the export holds personal data")
		code, _, errs = lethe(admin, "export", "access", "-o", file)
		Expect(code).To(Equal(1))
		Expect(errs).To(ContainSubstring(file + " exists: remove it or name another file"))

		By("changing a CSV of the package in its Secret, keeping its manifest")
		content := unzip(zipped)
		names := make([]string, 0, len(content))
		for n := range content {
			names = append(names, n)
		}
		sort.Strings(names)
		var csv string
		for _, n := range names {
			if strings.HasPrefix(n, "csv/acme/") {
				csv = n
				content[n] = append(content[n], []byte("1,someone else\n")...)
				break
			}
		}
		Expect(csv).NotTo(BeEmpty())
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, n := range names {
			w, err := zw.Create(n)
			Expect(err).NotTo(HaveOccurred())
			_, err = w.Write(content[n])
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(zw.Close()).To(Succeed())
		updateSecret(t.ns, r.Status.Export.SecretRef.Name, func(data map[string][]byte) { data[privacyv1alpha1.ExportSecretKey] = buf.Bytes() })

		changed := filepath.Join(GinkgoT().TempDir(), "changed.zip")
		code, _, errs = lethe(admin, "export", "access", "-o", changed)
		Expect(code).To(Equal(1))
		Expect(errs).To(ContainSubstring("and DataSubjectRequest " + t.ns + "/access's status.export.sha256 is " + r.Status.Export.SHA256 +
			": it changed after the operator wrote it; nothing was written"))
		Expect(changed).NotTo(BeAnExistingFile())

		By("and its status too, so only the manifest can tell")
		sum := sha256.Sum256(buf.Bytes())
		r.Status.Export.SHA256 = hex.EncodeToString(sum[:])
		Expect(k8s.Status().Update(ctx, r)).To(Succeed())
		code, _, errs = lethe(admin, "export", "access", "-o", changed)
		Expect(code).To(Equal(1))
		Expect(errs).To(MatchRegexp(`does not match its manifest: %s has \d+ bytes with SHA-256 [0-9a-f]{64}; %s says \d+ bytes with SHA-256 [0-9a-f]{64}; nothing was written`,
			csv, export.ManifestName))
		Expect(changed).NotTo(BeAnExistingFile())
	})

	It("starts a policy's run now and waits for what it changed", func() {
		p := retentionPolicy(t.ns, "closed", anonymizeClosedCustomers)
		p.Annotations = nil
		Expect(k8s.Create(ctx, p)).To(Succeed())
		waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)

		code, out, errs := lethe(admin, "run-now", "closed", "--wait", "--timeout", "1m")
		Expect(code).To(BeZero(), errs)
		Expect(out).To(MatchRegexp(`^asked RetentionPolicy %s/closed for a run now \(privacy.lethe.dev/run-now=(\S+)\)\n`+
			`run \S+ completed in 2 tenant databases: (\d+) rows matched, (\d+) changed\n$`, t.ns))
		p = getPolicy(t.ns, "closed")
		Expect(out).To(ContainSubstring("run-now=" + p.Status.LastRunNow + ")"))
		Expect(p.Annotations).To(HaveKeyWithValue(privacyv1alpha1.AnnotationRunNow, p.Status.LastRunNow))
		Expect(ruleStatus(p, "acme", "closed-customers").Changed).To(BeNumerically(">", 0))
		Expect(t.count("acme", "SELECT count(*) FROM app.customers WHERE name = 'Anonymized'")).To(Equal(ruleStatus(p, "acme", "closed-customers").Changed))
	})

	It("shows a tenant database's conditions, warnings, uncovered columns and last runs on one screen", func() {
		t.exec("acme", `ALTER TABLE app.customers ADD COLUMN mobile_phone text;
			UPDATE app.customers SET mobile_phone = '+46 70 ' || lpad(id::text, 7, '0')`)
		expectCondition(t.ns, "acme", privacyv1alpha1.ConditionUncoveredPersonalData, metav1.ConditionTrue, privacyv1alpha1.ReasonUncoveredColumns)

		code, out, errs := lethe(admin, "status", "acme")
		Expect(code).To(BeZero(), errs)
		Expect(out).To(HavePrefix("TenantDatabase " + t.ns + "/acme (tenant acme): Ready True (Succeeded)\n"))
		Expect(out).To(MatchRegexp(`database:\s+PostgreSQL \d+\.\d+.*, lethe schema \d+; connection Secret acme-db; last checked \S+Z`))
		Expect(out).To(MatchRegexp(`\n  AuditChainIntact\s+True\s+AuditChainIntact\s`))
		Expect(out).To(ContainSubstring("warning UncoveredPersonalData: 1 column"))
		Expect(out).To(MatchRegexp(`\n    app\.customers\.mobile_phone\s+Phone\s+name, content 100%\n`))
		Expect(out).To(MatchRegexp(`\n  RetentionPolicy\s+closed\s+\S+Z\s+run \S+ completed\s+\d+ rows matched, \d+ changed\n`))
		Expect(out).To(MatchRegexp(`\n  DataSubjectRequest\s+access\s+\S+Z\s+Access Completed\s+\d+ rows found, 0 changed\n`))
		Expect(out).To(MatchRegexp(`\n  DataSubjectRequest\s+find\s+\S+Z\s+Discovery Completed`))
		Expect(len(strings.Split(out, "\n"))).To(BeNumerically("<", 40), "one screen:\n%s", out)

		code, out, _ = lethe(admin, "status")
		Expect(code).To(BeZero())
		Expect(out).To(And(ContainSubstring("TenantDatabase "+t.ns+"/acme "), ContainSubstring("\n\nTenantDatabase "+t.ns+"/globex "),
			ContainSubstring("warnings: none")))
		code, _, errs = lethe(admin, "status", "nope")
		Expect(code).To(Equal(1))
		Expect(errs).To(ContainSubstring("TenantDatabase nope not found in namespace " + t.ns))
	})

	It("re-checks a tenant database's audit chain through its Secret and prints the latest records; a broken chain fails", func() {
		head := getTenant(t.ns, "acme").Status.AuditHead
		Expect(head).NotTo(BeNil())
		code, out, errs := lethe(admin, "audit", "verify", "acme", "--last", "3")
		Expect(code).To(BeZero(), errs)
		Expect(out).To(MatchRegexp(`^audit chain of TenantDatabase %s/acme: intact: \d+ records, the last record \d+ \(chain hash [0-9a-f]{16}…\); `+
			`record %d, the last the operator saw, is there unchanged\n`, t.ns, head.ID))
		Expect(out).To(MatchRegexp(`\nthe latest 3 records:\nID\s+TIME\s+ACTOR\s+ACTION\s+OBJECT\s+ENTITY\s+ROWS\s+SUBJECT\s+DETAIL\n`))
		Expect(out).To(MatchRegexp(`\n\d+\s+\S+Z\s+\S+\s+Anonymize\s+RetentionPolicy %s/closed\s+customer\s+\d+\s`, t.ns))
		Expect(out + errs).NotTo(ContainSubstring(t.dbs["acme"].Password))

		t.exec("acme", "SET session_replication_role = replica; UPDATE lethe.audit_log SET actor = 'someone-else' WHERE id = 1")
		code, out, errs = lethe(admin, "audit", "verify", "acme", "--last", "0")
		Expect(code).To(Equal(1))
		Expect(out).To(MatchRegexp(`^audit chain of TenantDatabase %s/acme: BROKEN: record 1 does not match its hash: its content was changed \(\d+ records read\)\n$`, t.ns))
		Expect(errs).To(ContainSubstring("the audit chain of TenantDatabase " + t.ns + "/acme is broken: record 1 does not match its hash"))
	})
})
