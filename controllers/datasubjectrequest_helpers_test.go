package controllers

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

// tenants is a namespace with the sample inventory and two Ready
// TenantDatabases, acme (tier gold) and globex (tier silver), each with the
// sample application loaded from the same seed, so a customer with the same
// id exists in both with a different e-mail domain.
type tenants struct {
	ns  string
	dbs map[string]pgtest.Database
}

func twoTenants() tenants {
	GinkgoHelper()
	t := tenants{ns: newNamespace(), dbs: map[string]pgtest.Database{}}
	Expect(k8s.Create(ctx, sampleInventory(t.ns))).To(Succeed())
	for name, tier := range map[string]string{"acme": "gold", "globex": "silver"} {
		db := sampleDatabase()
		t.dbs[name] = db
		Expect(k8s.Create(ctx, secret(t.ns, name+"-db", db.SecretData()))).To(Succeed())
		tdb := tenantDatabase(t.ns, name, name+"-db", "customer-service")
		tdb.Labels = map[string]string{"lethe.dev/tier": tier}
		Expect(k8s.Create(ctx, tdb)).To(Succeed())
	}
	for name := range t.dbs {
		expectCondition(t.ns, name, privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	}
	return t
}

// query reads one value as the superuser in a tenant database.
func (t tenants) query(tenant, sql string, args ...any) any {
	GinkgoHelper()
	conn, err := pgx.Connect(ctx, pg.AdminDSN(t.dbs[tenant].Name))
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = conn.Close(context.Background()) }()
	var v any
	Expect(conn.QueryRow(ctx, sql, args...).Scan(&v)).To(Succeed())
	return v
}

func (t tenants) count(tenant, sql string, args ...any) int64 {
	GinkgoHelper()
	return t.query(tenant, sql, args...).(int64)
}

func (t tenants) exec(tenant, sql string) {
	GinkgoHelper()
	adminExec(t.dbs[tenant], sql)
}

// identifiersSecret stores a subject's identifiers in a Secret.
func (t tenants) identifiersSecret(name string, ids map[string]string) {
	GinkgoHelper()
	data := map[string][]byte{}
	for k, v := range ids {
		data[k] = []byte(v)
	}
	Expect(k8s.Create(ctx, secret(t.ns, name, data))).To(Succeed())
}

// request builds a DataSubjectRequest about a customer named by the
// identifiers Secret, on both tenants.
func (t tenants) request(name string, typ privacyv1alpha1.RequestType, idSecret string) *privacyv1alpha1.DataSubjectRequest {
	return &privacyv1alpha1.DataSubjectRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: name},
		Spec: privacyv1alpha1.DataSubjectRequestSpec{
			Type: typ,
			Subject: privacyv1alpha1.RequestSubject{Type: "customer",
				IdentifiersSecretRef: &privacyv1alpha1.LocalObjectReference{Name: idSecret}},
			Targets: privacyv1alpha1.Targets{Names: []string{"acme", "globex"}},
		},
	}
}

func getRequest(ns, name string) *privacyv1alpha1.DataSubjectRequest {
	GinkgoHelper()
	var r privacyv1alpha1.DataSubjectRequest
	Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &r)).To(Succeed())
	return &r
}

// expectPhase waits for a request's phase and returns the request.
func expectPhase(ns, name string, phase privacyv1alpha1.RequestPhase) *privacyv1alpha1.DataSubjectRequest {
	GinkgoHelper()
	var got *privacyv1alpha1.DataSubjectRequest
	Eventually(func(g Gomega) {
		var r privacyv1alpha1.DataSubjectRequest
		g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &r)).To(Succeed())
		ready := meta.FindStatusCondition(r.Status.Conditions, privacyv1alpha1.ConditionReady)
		g.Expect(r.Status.Phase).To(Equal(phase), "ready: %+v", ready)
		got = &r
	}, timeout, interval).Should(Succeed())
	return got
}

// expectRequestCondition waits for a request's condition.
func expectRequestCondition(ns, name, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	GinkgoHelper()
	r := &privacyv1alpha1.DataSubjectRequest{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	return waitCondition(r, func() []metav1.Condition { return r.Status.Conditions }, typ, status, reason)
}

func targetOf(r *privacyv1alpha1.DataSubjectRequest, name string) privacyv1alpha1.TargetResult {
	for _, t := range r.Status.Targets {
		if t.Name == name {
			return t
		}
	}
	return privacyv1alpha1.TargetResult{}
}

func entityOf(t privacyv1alpha1.TargetResult, entity string) privacyv1alpha1.EntityResult {
	for _, e := range t.Entities {
		if e.Entity == entity {
			return e
		}
	}
	return privacyv1alpha1.EntityResult{}
}

// unzip reads the files of an export.
func unzip(data []byte) map[string][]byte {
	GinkgoHelper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	Expect(err).NotTo(HaveOccurred())
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		Expect(err).NotTo(HaveOccurred())
		files[f.Name], err = io.ReadAll(rc)
		Expect(err).NotTo(HaveOccurred())
		_ = rc.Close()
	}
	return files
}

func getSecret(ns, name string) *corev1.Secret {
	GinkgoHelper()
	var s corev1.Secret
	Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &s)).To(Succeed())
	return &s
}

func keyOf(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

// requestText is everything a request's status says.
func requestText(r *privacyv1alpha1.DataSubjectRequest) string {
	GinkgoHelper()
	raw, err := yaml.Marshal(r.Status)
	Expect(err).NotTo(HaveOccurred())
	return string(raw)
}

// leakSurface is everything that leaves the tenant databases: the manager's
// log, the namespace's events, the status of every Lethe object in it, its
// ConfigMaps (drafted inventories), and the metrics.
func leakSurface(ns string) string {
	GinkgoHelper()
	var b strings.Builder
	b.WriteString(managerLog.String())
	var evs corev1.EventList
	Expect(k8s.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
	for _, e := range evs.Items {
		b.WriteString(e.Reason + " " + e.Message + "\n")
	}
	var reqs privacyv1alpha1.DataSubjectRequestList
	Expect(k8s.List(ctx, &reqs, client.InNamespace(ns))).To(Succeed())
	for i := range reqs.Items {
		b.WriteString(requestText(&reqs.Items[i]))
	}
	var tdbs privacyv1alpha1.TenantDatabaseList
	Expect(k8s.List(ctx, &tdbs, client.InNamespace(ns))).To(Succeed())
	for _, t := range tdbs.Items {
		raw, _ := yaml.Marshal(t.Status)
		b.Write(raw)
	}
	var cms corev1.ConfigMapList
	Expect(k8s.List(ctx, &cms, client.InNamespace(ns))).To(Succeed())
	for _, cm := range cms.Items {
		for _, v := range cm.Data {
			b.WriteString(v)
		}
	}
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		b.WriteString(f.String())
	}
	return b.String()
}
