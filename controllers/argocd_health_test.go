package controllers

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

// argoHealth evaluates config/argocd/health.lua on an object as Argo CD
// does (util/lua in argo-cd): gopher-lua without the standard libraries
// but package, base and table (Argo CD adds a restricted os, which the
// script does not use), a one-second limit, the object as the global obj,
// and a table with status and message as the answer.
func argoHealth(script string, u *unstructured.Unstructured) (status, message string) {
	GinkgoHelper()
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		Expect(l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), Protect: true}, lua.LString(lib.name))).To(Succeed())
	}
	limit, cancelLimit := context.WithTimeout(ctx, time.Second)
	defer cancelLimit()
	l.SetContext(limit)
	l.SetGlobal("obj", luaValue(l, u.Object))
	Expect(l.DoString(script)).To(Succeed())
	ret, ok := l.Get(-1).(*lua.LTable)
	Expect(ok).To(BeTrue(), "the script returned a %s, not a table", l.Get(-1).Type())
	s, m := ret.RawGetString("status"), ret.RawGetString("message")
	Expect(s.Type()).To(Equal(lua.LTString), "status")
	Expect(m.Type()).To(Equal(lua.LTString), "message")
	Expect(s.String()).To(BeElementOf("Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"))
	return s.String(), m.String()
}

// luaValue converts an object as Argo CD's decodeValue does.
func luaValue(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(luaValue(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetH(lua.LString(k), luaValue(l, item))
		}
		return t
	}
	return lua.LNil
}

// kstatusOf is what kstatus means by each Argo CD health: Suspended is
// kstatus's Current (a suspended policy) or InProgress (a request awaiting
// approval).
var kstatusOf = map[string][]kstatus.Status{
	"Healthy":     {kstatus.CurrentStatus},
	"Progressing": {kstatus.InProgressStatus},
	"Degraded":    {kstatus.FailedStatus},
	"Suspended":   {kstatus.CurrentStatus, kstatus.InProgressStatus},
}

// expectHealth reads the object back from the API server as Argo CD and
// kstatus see it (unstructured) and checks the health the script gives it,
// with a message containing message, and the status kstatus computes.
func expectHealth(script string, obj client.Object, health, message string, status kstatus.Status) {
	GinkgoHelper()
	gvk, err := apiutil.GVKForObject(obj, k8s.Scheme())
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), u)).To(Succeed())
	what := gvk.Kind + " " + u.GetName()

	got, msg := argoHealth(script, u)
	Expect(got).To(Equal(health), "%s: Argo CD health %s (%s) from status %v", what, got, msg, u.Object["status"])
	Expect(msg).To(ContainSubstring(message), what)
	res, err := kstatus.Compute(u)
	Expect(err).NotTo(HaveOccurred())
	Expect(res.Status).To(Equal(status), "%s: kstatus %s (%s)", what, res.Status, res.Message)
	Expect(kstatusOf[got]).To(ContainElement(res.Status), "%s: Argo CD says %s, kstatus %s", what, got, res.Status)
}

var _ = Describe("Argo CD health checks and kstatus", Ordered, func() {
	var (
		script string
		t      tenants
	)
	BeforeAll(func() {
		raw, err := os.ReadFile(filepath.Join("..", "config", "argocd", "health.lua"))
		Expect(err).NotTo(HaveOccurred())
		script = string(raw)
		retentionClock.SetTime(time.Now())
		jobClock.SetTime(sampleapp.ReferenceTime())
		t = twoTenants()
		Expect(k8s.Create(ctx, secret(t.ns, "nobody", map[string][]byte{"email": []byte("nobody@nowhere.example")}))).To(Succeed())
		Expect(k8s.Create(ctx, secret(t.ns, "pseudonym-key", map[string][]byte{"key": []byte("0123456789abcdef0123456789abcdef")}))).To(Succeed())
	})

	It("is registered in argocd-cm for every kind", func() {
		raw, err := os.ReadFile(filepath.Join("..", "config", "argocd", "kustomization.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var kinds []string
		api := reflect.TypeFor[privacyv1alpha1.TenantDatabase]().PkgPath()
		for gvk, typ := range k8s.Scheme().AllKnownTypes() {
			if typ.PkgPath() == api && !strings.HasSuffix(gvk.Kind, "List") {
				kinds = append(kinds, gvk.Kind)
				Expect(string(raw)).To(ContainSubstring("resource.customizations.health.privacy.lethe.dev_"+gvk.Kind+"=health.lua\n"),
					"config/argocd/kustomization.yaml registers no health check for %s", gvk.Kind)
			}
		}
		Expect(kinds).To(HaveLen(7))
	})

	It("calls a Ready object of every kind Healthy, and kstatus Current", func() {
		expectHealth(script, getTenant(t.ns, "acme"), "Healthy", "", kstatus.CurrentStatus)

		inv := &privacyv1alpha1.DataInventory{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "customer-service"}}
		waitCondition(inv, func() []metav1.Condition { return inv.Status.Conditions },
			privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		expectHealth(script, inv, "Healthy", "", kstatus.CurrentStatus)

		ns := newNamespace()
		cat := testCatalog(ns, 10)
		cat.Spec.DefaultRoles = []privacyv1alpha1.CatalogDefaultRole{{Name: "admin", DisplayName: "Admin",
			Licenses: []string{"Administration"}, RequiredPermissions: []string{"ManageUsers"}, DefaultScope: "Company"}}
		Expect(k8s.Create(ctx, cat)).To(Succeed())
		expectHealth(script, expectCatalog(ns, "qm", metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded), "Healthy", "", kstatus.CurrentStatus)
		expectRole(ns, "qm-admin", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		expectHealth(script, getRole(ns, "qm-admin"), "Healthy", "", kstatus.CurrentStatus)

		p := retentionPolicy(t.ns, "idle", anonymizeClosedCustomers)
		p.Annotations = nil
		Expect(k8s.Create(ctx, p)).To(Succeed())
		waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		expectHealth(script, p, "Healthy", "no run yet", kstatus.CurrentStatus)

		Expect(k8s.Create(ctx, t.request("found-nowhere", privacyv1alpha1.RequestDiscovery, "nobody"))).To(Succeed())
		expectPhase(t.ns, "found-nowhere", privacyv1alpha1.PhaseCompleted)
		expectHealth(script, getRequest(t.ns, "found-nowhere"), "Healthy", "Discovery request completed", kstatus.CurrentStatus)

		j := newJob(t.ns, "count-only", "acme")
		j.Spec.DryRun = true
		j.Spec.Selector = &privacyv1alpha1.PseudonymizationSelector{Entity: "employee",
			Age: privacyv1alpha1.RetentionAge{Column: "hired_at", OlderThan: "1d"}}
		Expect(k8s.Create(ctx, j)).To(Succeed())
		expectHealth(script, expectJob(t.ns, "count-only", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonJobSucceeded),
			"Healthy", "", kstatus.CurrentStatus)
	})

	It("calls an object waiting for something that may appear Progressing, and kstatus InProgress", func() {
		Expect(k8s.Create(ctx, tenantDatabase(t.ns, "no-secret", "missing-db", "customer-service"))).To(Succeed())
		expectCondition(t.ns, "no-secret", privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, privacyv1alpha1.ReasonSecretNotFound)
		expectHealth(script, getTenant(t.ns, "no-secret"), "Progressing", "missing-db", kstatus.InProgressStatus)

		Expect(k8s.Create(ctx, newRole(t.ns, "no-catalog", "Self", []string{"Data"}, []string{"ViewContacts"}, nil, "acme"))).To(Succeed())
		expectRole(t.ns, "no-catalog", privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, privacyv1alpha1.ReasonCatalogNotFound)
		expectHealth(script, getRole(t.ns, "no-catalog"), "Progressing", "PermissionCatalog qm not found", kstatus.InProgressStatus)

		Expect(k8s.Create(ctx, t.request("no-identifiers", privacyv1alpha1.RequestDiscovery, "later"))).To(Succeed())
		expectRequestCondition(t.ns, "no-identifiers", privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, privacyv1alpha1.ReasonIdentifiersSecretNotFound)
		expectHealth(script, getRequest(t.ns, "no-identifiers"), "Progressing", "identifiers secret later not found", kstatus.InProgressStatus)

		j := newJob(t.ns, "key-later", "acme")
		j.Spec.Pseudonym.KeySecretRef.Name = "key-later"
		j.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{Identifier: "E10003"}
		Expect(k8s.Create(ctx, j)).To(Succeed())
		expectHealth(script, expectJob(t.ns, "key-later", privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, privacyv1alpha1.ReasonKeySecretNotFound),
			"Progressing", "pseudonym key secret key-later not found", kstatus.InProgressStatus)
	})

	It("calls an object only a change can fix Degraded, and kstatus Failed", func() {
		empty, err := pg.CreateDatabase(ctx, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(k8s.Create(ctx, secret(t.ns, "empty-db", empty.SecretData()))).To(Succeed())
		Expect(k8s.Create(ctx, tenantDatabase(t.ns, "empty", "empty-db", "customer-service"))).To(Succeed())
		expectCondition(t.ns, "empty", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonInventoryInvalid)
		expectHealth(script, getTenant(t.ns, "empty"), "Degraded", "does not exist", kstatus.FailedStatus)

		inv := minimalInventory(t.ns)
		inv.Spec.Entities = append(inv.Spec.Entities,
			privacyv1alpha1.Entity{Name: "a", Table: "app.a", PrimaryKey: []string{"id"},
				Relations: []privacyv1alpha1.EntityRelation{{Entity: "b", Direction: privacyv1alpha1.RelationChild, Columns: []string{"b_id"}}}},
			privacyv1alpha1.Entity{Name: "b", Table: "app.b", PrimaryKey: []string{"id"},
				Relations: []privacyv1alpha1.EntityRelation{{Entity: "a", Direction: privacyv1alpha1.RelationChild, Columns: []string{"a_id"}}}},
		)
		Expect(k8s.Create(ctx, inv)).To(Succeed())
		waitCondition(inv, func() []metav1.Condition { return inv.Status.Conditions },
			privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonInventoryInvalid)
		expectHealth(script, inv, "Degraded", "relations form a cycle", kstatus.FailedStatus)

		ns := newNamespace()
		cat := testCatalog(ns, 10)
		cat.Spec.Permissions[3].Requires = []string{"ViewTrash"}
		Expect(k8s.Create(ctx, cat)).To(Succeed())
		expectHealth(script, expectCatalog(ns, "qm", metav1.ConditionFalse, privacyv1alpha1.ReasonCatalogInvalid),
			"Degraded", "unknown permission ViewTrash", kstatus.FailedStatus)
		Expect(k8s.Create(ctx, newRole(ns, "r", "Self", []string{"Data"}, []string{"ViewContacts"}, nil, "acme"))).To(Succeed())
		expectRole(ns, "r", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonCatalogInvalid)
		expectHealth(script, getRole(ns, "r"), "Degraded", "", kstatus.FailedStatus)

		// Admission refuses the zone; a policy created before the webhook
		// ran (or past it) stalls.
		restore := withoutValidatingWebhook(retentionPolicyWebhook)
		p := retentionPolicy(t.ns, "on-mars", anonymizeClosedCustomers)
		p.Annotations = nil
		p.Spec.TimeZone = ptr.To("Mars/Olympus_Mons")
		// The API server learns of the changed configuration by a watch.
		Eventually(func() error { return k8s.Create(ctx, p) }).Should(Succeed())
		restore()
		waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonScheduleInvalid)
		expectHealth(script, p, "Degraded", "Mars/Olympus_Mons", kstatus.FailedStatus)

		req := t.request("alien", privacyv1alpha1.RequestDiscovery, "")
		req.Spec.Subject = privacyv1alpha1.RequestSubject{Type: "supplier", Identifiers: map[string]string{"email": "x@example.com"}}
		Expect(k8s.Create(ctx, req)).To(Succeed())
		Expect(expectPhase(t.ns, "alien", privacyv1alpha1.PhaseFailed).Status.Conditions).To(ContainElement(
			HaveField("Type", privacyv1alpha1.ConditionStalled)))
		expectHealth(script, getRequest(t.ns, "alien"), "Degraded", `declares no subject type "supplier"`, kstatus.FailedStatus)

		// A key Secret not created yet is waited for (Progressing); one
		// without the key needs a fix.
		Expect(k8s.Create(ctx, secret(t.ns, "keyless", map[string][]byte{"other": []byte("0123456789abcdef")}))).To(Succeed())
		j := newJob(t.ns, "no-key", "acme")
		j.Spec.Pseudonym.KeySecretRef.Name = "keyless"
		j.Spec.Subject = &privacyv1alpha1.PseudonymizationSubject{Identifier: "E10003"}
		Expect(k8s.Create(ctx, j)).To(Succeed())
		expectHealth(script, expectJob(t.ns, "no-key", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonKeySecretNotFound),
			"Degraded", `pseudonym key secret keyless has no key "key"`, kstatus.FailedStatus)
	})

	It("calls a suspended policy and a request awaiting approval Suspended; kstatus Current and InProgress", func() {
		p := retentionPolicy(t.ns, "paused", anonymizeClosedCustomers)
		p.Spec.Suspend = true
		Expect(k8s.Create(ctx, p)).To(Succeed())
		waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSuspended)
		expectHealth(script, p, "Suspended", "suspended", kstatus.CurrentStatus)

		Expect(k8s.Create(ctx, t.request("erase", privacyv1alpha1.RequestErasure, "nobody"))).To(Succeed())
		expectPhase(t.ns, "erase", privacyv1alpha1.PhaseAwaitingApproval)
		expectRequestCondition(t.ns, "erase", privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, privacyv1alpha1.ReasonAwaitingApproval)
		expectHealth(script, getRequest(t.ns, "erase"), "Suspended", "spec.approval.approved", kstatus.InProgressStatus)

		approve(t.ns, "erase")
		expectPhase(t.ns, "erase", privacyv1alpha1.PhaseCompleted)
		expectHealth(script, getRequest(t.ns, "erase"), "Healthy", "Erasure request completed", kstatus.CurrentStatus)
	})

	It("calls an object whose current generation the controller has not answered yet Progressing, and kstatus InProgress", func() {
		p := retentionPolicy(t.ns, "held", privacyv1alpha1.RetentionRule{Name: "held", Entity: "customer",
			Age:        privacyv1alpha1.RetentionAge{Column: "closed_at", OlderThan: "90d"},
			Conditions: []privacyv1alpha1.RetentionCondition{{Column: "status", In: []string{"closed"}}},
			Action:     privacyv1alpha1.RetentionAnonymize})
		p.Annotations = nil
		Expect(k8s.Create(ctx, p)).To(Succeed())
		waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)

		By("holding a run in its first batch, so the controller is busy when the spec changes")
		entered, release := make(chan struct{}), make(chan struct{})
		var enter, leave sync.Once
		hook := func(rule string, _ int) error {
			if rule == "held" {
				enter.Do(func() { close(entered) })
				<-release
			}
			return nil
		}
		retentionHook.Store(&hook)
		DeferCleanup(func() {
			leave.Do(func() { close(release) })
			retentionHook.Store(nil)
		})
		runNow(t.ns, "held", "1")
		Eventually(entered, timeout).Should(BeClosed())
		Eventually(func() error {
			p = getPolicy(t.ns, "held")
			p.Spec.BatchSize = 3
			return k8s.Update(ctx, p)
		}, timeout, interval).Should(Succeed())
		Expect(p.Generation).To(Equal(int64(2)))
		Expect(getPolicy(t.ns, "held").Status.ObservedGeneration).To(Equal(int64(1)))
		expectHealth(script, p, "Progressing", "generation 2 not yet observed (last observed: 1)", kstatus.InProgressStatus)

		By("letting the run go on: the controller answers generation 2")
		leave.Do(func() { close(release) })
		completedRun(t.ns, "held", "1")
		waitCondition(p, func() []metav1.Condition { return p.Status.Conditions },
			privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		expectHealth(script, p, "Healthy", "completed", kstatus.CurrentStatus)
	})

	It("keeps a finished request's health once its spec changes after the end", func() {
		Expect(k8s.Create(ctx, t.request("done", privacyv1alpha1.RequestAccess, "nobody"))).To(Succeed())
		expectPhase(t.ns, "done", privacyv1alpha1.PhaseCompleted)
		approve(t.ns, "done")
		// The finished request's answer holds for its new generation: the
		// controller observes it, and kstatus agrees with Argo CD.
		Eventually(func(g Gomega) {
			r := getRequest(t.ns, "done")
			g.Expect(r.Status.ObservedGeneration).To(Equal(r.Generation))
		}).Should(Succeed())
		expectHealth(script, getRequest(t.ns, "done"), "Healthy", "", kstatus.CurrentStatus)
	})
})
