package controllers

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/identity"
)

// identityOf decodes an identity annotation of an object.
func identityOf(obj client.Object, key string) identity.Identity {
	GinkgoHelper()
	v, ok := obj.GetAnnotations()[key]
	Expect(ok).To(BeTrue(), "annotation %s on %s", key, obj.GetName())
	id, err := identity.Decode(v)
	Expect(err).NotTo(HaveOccurred())
	return id
}

// warnings collects the warnings the API server returns.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, message string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, message)
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}

var _ = Describe("Admission webhooks", func() {
	It("records the requester and refuses identities set or changed by hand", func() {
		ns := newNamespace()
		alice := userClient("alice", editorRole)
		Expect(alice.Create(ctx, testCatalog(ns, 10))).To(Succeed())
		var cat privacyv1alpha1.PermissionCatalog
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "qm"}, &cat)).To(Succeed())
		who := identityOf(&cat, privacyv1alpha1.AnnotationRequestedBy)
		Expect(who.Username).To(Equal("alice"))
		Expect(who.UID).To(Equal("uid-alice"))
		Expect(who.Groups).To(ContainElements("lethe-testers", "system:authenticated"))
		Expect(who.At.IsZero()).To(BeFalse())
		Expect(cat.Annotations).NotTo(HaveKey(privacyv1alpha1.AnnotationChangedBy), "nothing changed yet")

		By("refusing a create that brings its own identity")
		forged := identity.New("someone-else", "", nil, who.At).Encode()
		for _, key := range []string{privacyv1alpha1.AnnotationRequestedBy, privacyv1alpha1.AnnotationChangedBy, privacyv1alpha1.AnnotationApprovedBy,
			privacyv1alpha1.AnnotationArchiveDeleteRequestedBy} {
			other := testCatalog(ns, 10)
			other.Name = "forged"
			other.Annotations = map[string]string{key: forged}
			Expect(alice.Create(ctx, other)).To(MatchError(ContainSubstring(
				"metadata.annotations[" + key + "] is written by Lethe from the identity the API server authenticated and cannot be set or changed by hand")))
		}

		By("refusing to change it, even for the cluster admin")
		for _, c := range []client.Client{alice, k8s} {
			Expect(updateAs(c, &privacyv1alpha1.PermissionCatalog{ObjectMeta: cat.ObjectMeta}, func(p *privacyv1alpha1.PermissionCatalog) {
				p.Annotations[privacyv1alpha1.AnnotationRequestedBy] = forged
			})).To(MatchError(ContainSubstring("cannot be set or changed by hand")))
		}

		By("keeping it when an update leaves it out")
		patch := []byte(`{"metadata":{"annotations":{"` + privacyv1alpha1.AnnotationRequestedBy + `":null}}}`)
		Expect(alice.Patch(ctx, &privacyv1alpha1.PermissionCatalog{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "qm"}},
			client.RawPatch("application/merge-patch+json", patch))).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "qm"}, &cat)).To(Succeed())
		Expect(cat.Annotations[privacyv1alpha1.AnnotationRequestedBy]).To(Equal(who.Encode()))

		By("recording who changed the spec")
		bob := userClient("bob", editorRole)
		Expect(updateAs(bob, &cat, func(p *privacyv1alpha1.PermissionCatalog) { p.Spec.Licenses[0].Seats++ })).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "qm"}, &cat)).To(Succeed())
		Expect(identityOf(&cat, privacyv1alpha1.AnnotationChangedBy).Username).To(Equal("bob"))
		Expect(identityOf(&cat, privacyv1alpha1.AnnotationRequestedBy).Username).To(Equal("alice"))
	})

	It("puts who created and who changed a Role into its audit records", func() {
		ns := newNamespace()
		db := roleTenant(ns, "acme", nil)
		Expect(k8s.Create(ctx, testCatalog(ns, 10))).To(Succeed())
		alice, bob := userClient("alice", editorRole), userClient("bob", editorRole)
		Expect(alice.Create(ctx, newRole(ns, "agents", "Company", []string{"Data"}, []string{"ViewContacts"}, []string{"carol"}, "acme"))).To(Succeed())
		expectRole(ns, "agents", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		actors := func() []string {
			return tenantRows(db, "SELECT DISTINCT actor FROM lethe.audit_log WHERE object_kind = 'Role' AND object_name = 'agents' AND action = 'SyncRole'")
		}
		Expect(actors()).To(Equal([]string{"alice"}))

		Expect(updateAs(bob, getRole(ns, "agents"), func(r *privacyv1alpha1.Role) { r.Spec.Members = []string{"carol", "dave"} })).To(Succeed())
		Expect(identityOf(getRole(ns, "agents"), privacyv1alpha1.AnnotationChangedBy).Username).To(Equal("bob"))
		Eventually(actors, timeout, interval).Should(Equal([]string{"alice", "bob"}))
		Expect(tenantRows(db, "SELECT detail FROM lethe.audit_log WHERE actor = 'bob' AND object_name = 'agents'")).To(
			ContainElement(ContainSubstring("dave")))
	})

	Describe("around data subject requests", func() {
		var t tenants
		var email string

		BeforeEach(func() {
			t = twoTenants()
			email = t.query("acme", "SELECT email FROM app.customers ORDER BY id LIMIT 1").(string)
			t.identifiersSecret("who", map[string]string{"email": email})
		})

		It("refuses self-approval and approval without the approve verb, and records an authorized approver", func() {
			// rita may approve requests, but not her own.
			rita := userClient("rita", editorRole, approverRole)
			Expect(rita.Create(ctx, t.request("erase", privacyv1alpha1.RequestErasure, "who"))).To(Succeed())
			expectPhase(t.ns, "erase", privacyv1alpha1.PhaseAwaitingApproval)

			By("refusing the requester's own approval, even when she may approve")
			for _, release := range []func(*privacyv1alpha1.DataSubjectRequest){
				func(r *privacyv1alpha1.DataSubjectRequest) {
					r.Spec.Approval = &privacyv1alpha1.Approval{Approved: true}
				},
				func(r *privacyv1alpha1.DataSubjectRequest) {
					r.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
				},
			} {
				Expect(updateAs(rita, getRequest(t.ns, "erase"), release)).To(MatchError(ContainSubstring(
					"rita created this request and cannot release it: four eyes are required")))
			}
			early := t.request("erase-early", privacyv1alpha1.RequestErasure, "who")
			early.Spec.Approval = &privacyv1alpha1.Approval{Approved: true}
			Expect(rita.Create(ctx, early)).To(MatchError(ContainSubstring("a request cannot be approved by its requester")))

			By("refusing a user without the approve verb")
			carol := userClient("carol", editorRole)
			Expect(updateAs(carol, getRequest(t.ns, "erase"), func(r *privacyv1alpha1.DataSubjectRequest) {
				r.Spec.Approval = &privacyv1alpha1.Approval{Approved: true}
			})).To(MatchError(ContainSubstring(`carol may not approve DataSubjectRequest erase: it needs the verb "approve" on datasubjectrequests.privacy.lethe.dev in namespace ` + t.ns)))
			Expect(getRequest(t.ns, "erase").Status.Approval).To(BeNil())

			By("recording the approval of a second, authorized user")
			approve(t.ns, "erase")
			r := expectPhase(t.ns, "erase", privacyv1alpha1.PhaseCompleted)
			Expect(identityOf(r, privacyv1alpha1.AnnotationApprovedBy).Username).To(Equal("dpo-approver"))
			Expect(r.Status.Approval).NotTo(BeNil())
			Expect(r.Status.Approval.ApprovedBy).To(Equal("dpo-approver"))
			Expect(r.Status.Approval.ApprovedByUID).To(Equal("uid-dpo-approver"))
			Expect(r.Status.Approval.ApprovedAt).NotTo(BeNil())
			Expect(expectRequestCondition(t.ns, "erase", privacyv1alpha1.ConditionApproved, metav1.ConditionTrue, privacyv1alpha1.ReasonApproved).Message).To(
				Equal("the request was approved by dpo-approver"))
			for _, tenant := range []string{"acme", "globex"} {
				Expect(t.count(tenant, "SELECT count(*) FROM lethe.audit_log WHERE object_uid = $1 AND action = 'Approve' AND actor = 'dpo-approver' AND detail = $2",
					string(r.UID), "Erasure request of rita approved by dpo-approver")).To(Equal(int64(1)), "tenant %s", tenant)
			}
			Expect(t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE object_uid = $1 AND action IN ('Mask', 'Delete') AND actor <> 'rita'",
				string(r.UID))).To(BeZero(), "the changes are the requester's")
			Expect(t.count("acme", "SELECT count(*) FROM lethe.audit_log WHERE object_uid = $1 AND action IN ('Mask', 'Delete')",
				string(r.UID))).To(BeNumerically(">", 0))
		})

		It("lets only an approver waive the approval of a request that changes data", func() {
			alice := userClient("alice", editorRole)
			for _, typ := range []privacyv1alpha1.RequestType{privacyv1alpha1.RequestRectification, privacyv1alpha1.RequestPseudonymization} {
				req := t.request("waived-"+strings.ToLower(string(typ)), typ, "who")
				req.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
				req.Spec.Rectification = nil
				if typ == privacyv1alpha1.RequestRectification {
					req.Spec.Rectification = &privacyv1alpha1.RectificationOptions{ValuesSecretRef: privacyv1alpha1.LocalObjectReference{Name: "fix"}}
				} else {
					req.Spec.Pseudonymization = &privacyv1alpha1.PseudonymizationOptions{Pseudonym: privacyv1alpha1.PseudonymSettings{Mode: privacyv1alpha1.PseudonymRandom}}
				}
				Expect(alice.Create(ctx, req)).To(MatchError(ContainSubstring(
					"alice may not create an %s request with spec.approval.required: false", typ)))
			}
			waived := t.request("waived", privacyv1alpha1.RequestErasure, "who")
			waived.Spec.Approval = &privacyv1alpha1.Approval{Required: ptr.To(false)}
			Expect(alice.Create(ctx, waived.DeepCopy())).To(MatchError(ContainSubstring(
				"alice may not create an Erasure request with spec.approval.required: false")))
			Expect(approver().Create(ctx, waived)).To(Succeed())
		})

		It("refuses an extension of a completed request", func() {
			Expect(k8s.Create(ctx, t.request("find", privacyv1alpha1.RequestDiscovery, "who"))).To(Succeed())
			expectPhase(t.ns, "find", privacyv1alpha1.PhaseCompleted)
			Expect(updateRequest(t.ns, "find", func(r *privacyv1alpha1.DataSubjectRequest) {
				r.Spec.Extension = &privacyv1alpha1.Extension{Reason: "late"}
			})).To(MatchError(ContainSubstring("the request is Completed: there is no deadline left to extend; create a new request instead")))
		})

		It("refuses repointing a tenant database a request waits on", func() {
			Expect(k8s.Create(ctx, t.request("erase", privacyv1alpha1.RequestErasure, "who"))).To(Succeed())
			expectPhase(t.ns, "erase", privacyv1alpha1.PhaseAwaitingApproval)
			var tdb privacyv1alpha1.TenantDatabase
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: "acme"}, &tdb)).To(Succeed())
			Expect(updateAs(k8s, &tdb, func(d *privacyv1alpha1.TenantDatabase) { d.Spec.InventoryRef.Name = "other" })).To(MatchError(ContainSubstring(
				"spec.inventoryRef cannot change while DataSubjectRequest erase has not completed on TenantDatabase acme: wait for it to complete")))
		})

		It("refuses removing a subject type an unfinished request asks about", func() {
			req := t.request("erase-contact", privacyv1alpha1.RequestErasure, "who")
			req.Spec.Subject.Type = "contactPerson"
			Expect(k8s.Create(ctx, req)).To(Succeed())
			expectPhase(t.ns, "erase-contact", privacyv1alpha1.PhaseAwaitingApproval)
			var inv privacyv1alpha1.DataInventory
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: "customer-service"}, &inv)).To(Succeed())
			Expect(updateAs(k8s, &inv, func(i *privacyv1alpha1.DataInventory) {
				i.Spec.Subjects = slices.DeleteFunc(i.Spec.Subjects, func(s privacyv1alpha1.SubjectType) bool { return s.Name == "contactPerson" })
				for e := range i.Spec.Entities {
					if i.Spec.Entities[e].Name == "contactPerson" {
						i.Spec.Entities[e].Subject = nil
					}
				}
			})).To(MatchError(ContainSubstring("removing subject type contactPerson would break DataSubjectRequest erase-contact, " +
				"not yet completed on TenantDatabase acme, globex: wait for the requests to complete, or keep the subject type")))
		})

		It("refuses deleting an inventory in use and warns about changing it", func() {
			var inv privacyv1alpha1.DataInventory
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: "customer-service"}, &inv)).To(Succeed())
			Expect(k8s.Delete(ctx, &inv)).To(MatchError(ContainSubstring(
				"DataInventory customer-service is used by TenantDatabase acme, globex: point them at another inventory (spec.inventoryRef) or delete them first")))

			seen := &warnings{}
			c := rest.CopyConfig(cfg)
			c.WarningHandlerWithContext = seen
			warned, err := client.New(c, client.Options{Scheme: k8s.Scheme()})
			Expect(err).NotTo(HaveOccurred())
			last := inv.Spec.Entities[len(inv.Spec.Entities)-1].Name
			Expect(updateAs(warned, &inv, func(i *privacyv1alpha1.DataInventory) {
				i.Spec.Entities = i.Spec.Entities[:len(i.Spec.Entities)-1]
			})).To(Succeed())
			Expect(seen.all()).To(ContainElements(
				"DataInventory customer-service is used by TenantDatabase acme, globex: each checks it against its schema again and is not Ready while it does not fit",
				"entity "+last+" is removed: its personal data is no longer found, exported or erased by data subject requests"))
		})
	})

	It("refuses deleting the last role managers' role and an edit that removes them, naming the tenant", func() {
		ns := newNamespace()
		roleTenant(ns, "acme", nil)
		Expect(k8s.Create(ctx, testCatalog(ns, 10))).To(Succeed())
		Expect(k8s.Create(ctx, newRole(ns, "admins", "Company", []string{"Administration"}, []string{"ManageUsers"}, []string{"alice"}, "acme"))).To(Succeed())
		expectRole(ns, "admins", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)

		Expect(k8s.Delete(ctx, getRole(ns, "admins"))).To(MatchError(ContainSubstring(
			"deleting Role admins would leave tenant acme (TenantDatabase acme) with no member holding ManageRoles and ManageUsers; give the permission to another member first")))
		Expect(updateAs(k8s, getRole(ns, "admins"), func(r *privacyv1alpha1.Role) {
			r.Spec.Licenses, r.Spec.Permissions = []string{"Data"}, []string{"ViewContacts"}
		})).To(MatchError(ContainSubstring("this change would leave tenant acme (TenantDatabase acme) with no member holding ManageRoles and ManageUsers")))
		Expect(updateAs(k8s, getRole(ns, "admins"), func(r *privacyv1alpha1.Role) { r.Spec.Targets.Names = []string{"elsewhere"} })).To(
			MatchError(ContainSubstring("tenant acme (TenantDatabase acme)")))

		By("letting it go once another member manages roles and users")
		Expect(k8s.Create(ctx, newRole(ns, "admins2", "Company", []string{"Administration"}, []string{"ManageUsers"}, []string{"frank"}, "acme"))).To(Succeed())
		Expect(k8s.Delete(ctx, getRole(ns, "admins"))).To(Succeed())
	})
})

var _ = Describe("Admission webhooks when their server is down", Ordered, func() {
	var down *envtest.Environment
	var c client.Client

	BeforeAll(func() {
		// A second API server with the same webhook configurations and no
		// server behind them.
		down = &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
			WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join("..", "config", "webhook")}},
		}
		downCfg, err := down.Start()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(down.Stop)
		c, err = client.New(downCfg, client.Options{Scheme: k8s.Scheme()})
		Expect(err).NotTo(HaveOccurred())
	})

	It("refuses Lethe objects, and nothing else", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "down"}}
		Expect(c.Create(ctx, ns)).To(Succeed())
		Expect(c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "down", Name: "unrelated"}})).To(Succeed())
		err := c.Create(ctx, testCatalog("down", 10))
		Expect(err).To(MatchError(ContainSubstring(`failed calling webhook "identity.privacy.lethe.dev"`)))
		Expect(c.Get(ctx, client.ObjectKey{Namespace: "down", Name: "qm"}, &privacyv1alpha1.PermissionCatalog{})).To(
			MatchError(ContainSubstring("not found")), "the object was not stored")
	})
})
