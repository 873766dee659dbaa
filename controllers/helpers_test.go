package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

const (
	timeout  = 30 * time.Second
	interval = 100 * time.Millisecond
)

var nsSeq atomic.Int64

// newNamespace creates a namespace for one test.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d-%d", GinkgoParallelProcess(), nsSeq.Add(1))}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// sampleInventory reads the sample DataInventory of config/samples.
func sampleInventory(ns string) *privacyv1alpha1.DataInventory {
	raw, err := os.ReadFile(filepath.Join("..", "config", "samples", "privacy_v1alpha1_datainventory.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var inv privacyv1alpha1.DataInventory
	Expect(yaml.UnmarshalStrict(raw, &inv)).To(Succeed())
	inv.Namespace = ns
	return &inv
}

// sampleDatabase creates a database holding the sample application.
func sampleDatabase() pgtest.Database {
	c, cancelLoad := context.WithTimeout(ctx, time.Minute)
	defer cancelLoad()
	db, err := pg.CreateDatabase(c, "")
	Expect(err).NotTo(HaveOccurred())
	conn, err := pg.AppConn(c, db)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = conn.Close(context.Background()) }()
	Expect(sampleapp.Load(c, conn, sampleapp.Options{Tenant: db.Name, Seed: 7, Customers: 20})).To(Succeed())
	return db
}

// adminExec runs SQL as the superuser in a tenant database.
func adminExec(db pgtest.Database, sql string) {
	Expect(pg.Exec(ctx, db.Name, sql)).To(Succeed())
}

func secret(ns, name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func tenantDatabase(ns, name, secretName, inventory string) *privacyv1alpha1.TenantDatabase {
	return &privacyv1alpha1.TenantDatabase{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: privacyv1alpha1.TenantDatabaseSpec{
			Tenant:       name,
			Connection:   privacyv1alpha1.ConnectionSpec{SecretRef: privacyv1alpha1.LocalObjectReference{Name: secretName}},
			InventoryRef: privacyv1alpha1.LocalObjectReference{Name: inventory},
		},
	}
}

// readyTenant sets up a namespace with the sample inventory, a sample
// database, its Secret and a TenantDatabase, and waits until it is Ready.
func readyTenant() (string, pgtest.Database) {
	ns := newNamespace()
	db := sampleDatabase()
	Expect(k8s.Create(ctx, sampleInventory(ns))).To(Succeed())
	Expect(k8s.Create(ctx, secret(ns, "db", db.SecretData()))).To(Succeed())
	Expect(k8s.Create(ctx, tenantDatabase(ns, "tenant", "db", "customer-service"))).To(Succeed())
	expectCondition(ns, "tenant", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	return ns, db
}

// waitCondition waits until an object's condition, for its current
// generation, has the status and reason, and returns it. conds reads the
// conditions of obj, which is refreshed from the API server on each try.
func waitCondition(obj client.Object, conds func() []metav1.Condition, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	GinkgoHelper()
	var got metav1.Condition
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		c := meta.FindStatusCondition(conds(), typ)
		g.Expect(c).NotTo(BeNil(), "no condition %s yet", typ)
		g.Expect(c.ObservedGeneration).To(Equal(obj.GetGeneration()), "condition %s is of an older generation", typ)
		g.Expect(c.Status).To(Equal(status), "condition %s: %s %s", typ, c.Reason, c.Message)
		g.Expect(c.Reason).To(Equal(reason), "condition %s: %s", typ, c.Message)
		got = *c
	}, timeout, interval).Should(Succeed())
	return got
}

// expectCondition waits until a TenantDatabase's condition has the status
// and reason, and returns it.
func expectCondition(ns, name, typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	GinkgoHelper()
	tdb := &privacyv1alpha1.TenantDatabase{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	return waitCondition(tdb, func() []metav1.Condition { return tdb.Status.Conditions }, typ, status, reason)
}

func getTenant(ns, name string) *privacyv1alpha1.TenantDatabase {
	GinkgoHelper()
	var tdb privacyv1alpha1.TenantDatabase
	Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &tdb)).To(Succeed())
	return &tdb
}

// updateSecret replaces a Secret's data.
func updateSecret(ns, name string, mutate func(map[string][]byte)) {
	GinkgoHelper()
	var s corev1.Secret
	Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &s)).To(Succeed())
	mutate(s.Data)
	Expect(k8s.Update(ctx, &s)).To(Succeed())
}

// eventsOf lists the notes and reasons of the events about an object.
func eventsOf(ns, name string) string {
	GinkgoHelper()
	var list corev1.EventList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var b strings.Builder
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name {
			fmt.Fprintf(&b, "%s %s %s\n", e.Type, e.Reason, e.Message)
		}
	}
	return b.String()
}

// eventNotes lists the notes of the events about an object with one
// reason, found as `kubectl get events --field-selector` finds them.
func eventNotes(ns, name, reason string) []string {
	GinkgoHelper()
	var list corev1.EventList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns), client.MatchingFieldsSelector{Selector: fields.AndSelectors(
		fields.OneTermEqualSelector("involvedObject.name", name), fields.OneTermEqualSelector("reason", reason))})).To(Succeed())
	notes := make([]string, 0, len(list.Items))
	for _, e := range list.Items {
		notes = append(notes, e.Message)
	}
	return notes
}

// statusText is everything the status and events say, to check nothing
// secret leaks.
func statusText(ns, name string) string {
	GinkgoHelper()
	raw, err := yaml.Marshal(getTenant(ns, name).Status)
	Expect(err).NotTo(HaveOccurred())
	return string(raw) + eventsOf(ns, name)
}

// tenantWithSecret sets up a namespace with the sample inventory, a sample
// database, a Secret for it changed by mutate, and a TenantDatabase.
func tenantWithSecret(mutate func(data map[string][]byte)) (string, pgtest.Database) {
	ns := newNamespace()
	db := sampleDatabase()
	data := db.SecretData()
	mutate(data)
	Expect(k8s.Create(ctx, sampleInventory(ns))).To(Succeed())
	Expect(k8s.Create(ctx, secret(ns, "db", data))).To(Succeed())
	Expect(k8s.Create(ctx, tenantDatabase(ns, "tenant", "db", "customer-service"))).To(Succeed())
	return ns, db
}
