package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

var _ = Describe("Role", func() {
	It("resolves a multi-level closure, syncs it, revokes what is removed and removes the role when deleted", func() {
		ns := newNamespace()
		db := roleTenant(ns, "acme", nil)
		Expect(k8s.Create(ctx, testCatalog(ns, 10))).To(Succeed())
		role := newRole(ns, "analyst", "Company", []string{"Data"}, []string{"EditEvaluationComment", "DeleteContact"},
			[]string{"alice", "bob"}, "acme")
		Expect(k8s.Create(ctx, role)).To(Succeed())
		c := expectRole(ns, "analyst", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(c.Message).To(ContainSubstring("synced into 1/1 tenants: 6 effective permissions (4 added by dependency), 2 members"))

		got := getRole(ns, "analyst")
		Expect(got.Finalizers).To(ContainElement("privacy.lethe.dev/role"))
		Expect(got.Status.EffectivePermissions).To(Equal([]string{"CreateEvaluationComment", "DeleteContact",
			"EditEvaluationComment", "ViewContacts", "ViewEvaluations", "ViewRecycleBin"}))
		Expect(got.Status.AddedByDependency).To(ConsistOf(
			privacyv1alpha1.AddedPermission{Permission: "CreateEvaluationComment", RequiredBy: []string{"EditEvaluationComment"}},
			privacyv1alpha1.AddedPermission{Permission: "ViewContacts", RequiredBy: []string{"EditEvaluationComment"}},
			privacyv1alpha1.AddedPermission{Permission: "ViewEvaluations", RequiredBy: []string{"CreateEvaluationComment", "EditEvaluationComment"}},
			privacyv1alpha1.AddedPermission{Permission: "ViewRecycleBin", RequiredBy: []string{"DeleteContact"}},
		))
		Expect(got.Status.AreaScopes).To(ConsistOf(
			privacyv1alpha1.EffectiveScope{Name: "Feedback", Scope: "Company", Source: "Default"},
			privacyv1alpha1.EffectiveScope{Name: "QA", Scope: "Company", Source: "Default"},
		))
		Expect(got.Status.Synced).To(Equal("1/1"))
		Expect(got.Status.Targets).To(HaveLen(1))
		Expect(got.Status.Targets[0].Tenant).To(Equal("acme"))
		Expect(got.Status.Targets[0].Seats).To(Equal([]privacyv1alpha1.LicenseSeats{{License: "Data", Used: 2, Available: 8}}))
		Expect(tenantRows(db, "SELECT permission FROM lethe.role_permissions WHERE role_key = $1", ns+"/analyst")).
			To(Equal(got.Status.EffectivePermissions))
		Expect(tenantRows(db, "SELECT user_id FROM lethe.role_members")).To(Equal([]string{"alice", "bob"}))
		Eventually(func() string { return eventsOf(ns, "analyst") }, timeout, interval).Should(ContainSubstring("RoleSynced"))
		status, err := yaml.Marshal(got.Status)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(status)+eventsOf(ns, "analyst")).NotTo(Or(ContainSubstring("alice"), ContainSubstring("bob")),
			"status and events never name a member")

		By("revoking a permission and a member, and renaming")
		updateRole(ns, "analyst", func(r *privacyv1alpha1.Role) {
			r.Spec.Permissions = []string{"EditEvaluationComment"}
			r.Spec.Members = []string{"alice"}
			r.Spec.DisplayName = "Analyst"
		})
		expectRole(ns, "analyst", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(tenantRows(db, "SELECT permission FROM lethe.role_permissions")).
			To(Equal([]string{"CreateEvaluationComment", "EditEvaluationComment", "ViewContacts", "ViewEvaluations"}))
		Expect(tenantRows(db, "SELECT lethe.can('bob', 'ViewContacts')::text || lethe.can('alice', 'DeleteContact')::text")).
			To(Equal([]string{"falsefalse"}))
		Expect(tenantRows(db, "SELECT display_name FROM lethe.roles")).To(Equal([]string{"Analyst"}))
		Expect(tenantRows(db, "SELECT action || ' ' || entity || ' ' || detail FROM lethe.audit_log WHERE object_kind = 'Role' AND action = 'SyncRole'")).
			To(ContainElements(
				"SyncRole lethe.role_permissions DeleteContact: area Feedback -> absent; ViewRecycleBin: area Feedback -> absent",
				"SyncRole lethe.role_members bob: present -> absent",
				`SyncRole lethe.roles display_name: "analyst" -> "Analyst"`))

		By("deleting the role: its rows go, then the Role")
		Expect(k8s.Delete(ctx, getRole(ns, "analyst"))).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "analyst"}, &privacyv1alpha1.Role{}))
		}, timeout, interval).Should(BeTrue())
		Expect(tenantRows(db, "SELECT role_key FROM lethe.roles")).To(BeEmpty())
		Expect(tenantRows(db, "SELECT user_id FROM lethe.role_members")).To(BeEmpty())
		Expect(tenantRows(db, "SELECT action FROM lethe.audit_log WHERE action = 'RemoveRole'")).To(Equal([]string{"RemoveRole"}))
	})

	It("puts back rows changed by hand, with an event", func() {
		ns := newNamespace()
		db := roleTenant(ns, "acme", nil)
		Expect(k8s.Create(ctx, testCatalog(ns, 10))).To(Succeed())
		Expect(k8s.Create(ctx, newRole(ns, "agent", "OwnTeam", []string{"Data"}, []string{"ViewContacts", "ViewEvaluations"},
			[]string{"alice"}, "acme"))).To(Succeed())
		expectRole(ns, "agent", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)

		adminExec(db, `UPDATE lethe.role_scopes SET scope = 'Company' WHERE name = 'QA';
			DELETE FROM lethe.role_permissions WHERE permission = 'ViewContacts';
			INSERT INTO lethe.role_members (role_key, user_id) SELECT role_key, 'mallory' FROM lethe.roles`)
		Eventually(func() []string {
			return tenantRows(db, "SELECT name || ' ' || scope FROM lethe.role_scopes UNION ALL SELECT permission FROM lethe.role_permissions "+
				"UNION ALL SELECT user_id FROM lethe.role_members")
		}, timeout, interval).Should(Equal([]string{"Feedback OwnTeam", "QA OwnTeam", "ViewContacts", "ViewEvaluations", "alice"}))
		Eventually(func() string { return eventsOf(ns, "agent") }, timeout, interval).Should(
			ContainSubstring("DriftRepaired rows changed by hand were put back: tenant acme: 3 rows (lethe.role_permissions 1, lethe.role_scopes 1, lethe.role_members 1)"))
		Expect(tenantRows(db, "SELECT entity || ' ' || detail FROM lethe.audit_log WHERE action = 'RepairRoleDrift'")).To(ContainElement(
			"lethe.role_scopes area QA: Company -> OwnTeam"))
		Expect(eventsOf(ns, "agent")).NotTo(ContainSubstring("mallory"), "events never name a member")
	})

	It("follows its targets: a dropped tenant loses the role", func() {
		ns := newNamespace()
		acme := roleTenant(ns, "acme", map[string]string{"tier": "gold"})
		globex := roleTenant(ns, "globex", map[string]string{"tier": "gold"})
		Expect(k8s.Create(ctx, testCatalog(ns, 10))).To(Succeed())
		role := newRole(ns, "agent", "Self", []string{"Data"}, []string{"ViewContacts"}, []string{"alice"})
		role.Spec.Targets = privacyv1alpha1.Targets{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}}
		Expect(k8s.Create(ctx, role)).To(Succeed())
		expectRole(ns, "agent", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(getRole(ns, "agent").Status.Synced).To(Equal("2/2"))
		for _, db := range []pgtest.Database{acme, globex} {
			Expect(tenantRows(db, "SELECT role_key FROM lethe.roles")).To(Equal([]string{ns + "/agent"}))
		}

		updateRole(ns, "agent", func(r *privacyv1alpha1.Role) { r.Spec.Targets = privacyv1alpha1.Targets{Names: []string{"acme"}} })
		expectRole(ns, "agent", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(getRole(ns, "agent").Status.Synced).To(Equal("1/1"))
		Expect(tenantRows(globex, "SELECT role_key FROM lethe.roles")).To(BeEmpty())
		Expect(tenantRows(acme, "SELECT role_key FROM lethe.roles")).To(Equal([]string{ns + "/agent"}))
	})

	It("waits for a missing catalog and a missing target, and heals when they appear", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, newRole(ns, "agent", "Self", []string{"Data"}, []string{"ViewContacts"}, nil, "acme"))).To(Succeed())
		c := expectRole(ns, "agent", privacyv1alpha1.ConditionReconciling, metav1.ConditionTrue, privacyv1alpha1.ReasonCatalogNotFound)
		Expect(c.Message).To(ContainSubstring("PermissionCatalog qm not found in namespace " + ns))
		Expect(k8s.Create(ctx, testCatalog(ns, 10))).To(Succeed())
		c = expectRole(ns, "agent", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonTenantDatabaseNotFound)
		Expect(c.Message).To(ContainSubstring("TenantDatabase acme not found"))
		roleTenant(ns, "acme", nil)
		expectRole(ns, "agent", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	Describe("stalls on a spec that cannot be applied, and every tenant keeps its previous state", Ordered, func() {
		var (
			ns string
			db pgtest.Database
		)
		BeforeAll(func() {
			ns = newNamespace()
			db = roleTenant(ns, "acme", nil)
			cat := testCatalog(ns, 10)
			cat.Spec.DefaultRoles = []privacyv1alpha1.CatalogDefaultRole{{Name: "admin", DisplayName: "Admin",
				Licenses: []string{"Administration"}, RequiredPermissions: []string{"ManageUsers"}, DefaultScope: "Company"}}
			cat.Spec.DefaultRoleTargets = &privacyv1alpha1.Targets{Names: []string{"acme"}}
			Expect(k8s.Create(ctx, cat)).To(Succeed())
			expectRole(ns, "qm-admin", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		})

		DescribeTable("with a precise reason",
			func(role string, mutate func(*privacyv1alpha1.RoleSpec), reason, message string) {
				if role != "qm-admin" {
					Expect(k8s.Create(ctx, newRole(ns, role, "Company", []string{"Data", "Usage"}, []string{"ViewContacts", "ViewFeed"},
						[]string{"alice"}, "acme"))).To(Succeed())
					expectRole(ns, role, privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
				}
				key := ns + "/" + role
				before := tenantRows(db, "SELECT permission || ' ' || area FROM lethe.role_permissions WHERE role_key = $1 "+
					"UNION ALL SELECT kind || ' ' || name || ' ' || scope FROM lethe.role_scopes WHERE role_key = $1", key)
				updateRole(ns, role, func(r *privacyv1alpha1.Role) { mutate(&r.Spec) })
				c := expectRole(ns, role, privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, reason)
				Expect(c.Message).To(ContainSubstring("not applied, every tenant keeps its previous state"))
				Expect(c.Message).To(ContainSubstring(message))
				expectRole(ns, role, privacyv1alpha1.ConditionReady, metav1.ConditionFalse, reason)
				Expect(tenantRows(db, "SELECT permission || ' ' || area FROM lethe.role_permissions WHERE role_key = $1 "+
					"UNION ALL SELECT kind || ' ' || name || ' ' || scope FROM lethe.role_scopes WHERE role_key = $1", key)).To(Equal(before))
			},
			Entry("UnknownPermission", "unknown", func(s *privacyv1alpha1.RoleSpec) {
				s.Permissions = append(s.Permissions, "ViewEverything")
			}, privacyv1alpha1.ReasonUnknownPermission, "spec.permissions: catalog has no permission ViewEverything"),
			Entry("LicenseMissingForPermission", "unlicensed", func(s *privacyv1alpha1.RoleSpec) {
				s.Permissions = append(s.Permissions, "ManageRoles")
			}, privacyv1alpha1.ReasonLicenseMissingForPermission, "permission ManageRoles needs one of the licenses Administration"),
			Entry("SocialScopeSelf", "social", func(s *privacyv1alpha1.RoleSpec) {
				s.DataScope.Areas = []privacyv1alpha1.AreaScope{{Area: "Social", Scope: "Self"}}
			}, privacyv1alpha1.ReasonSocialScopeSelf, "area Social can never be Self"),
			Entry("SpecificGroupsEmpty", "groups", func(s *privacyv1alpha1.RoleSpec) {
				s.DataScope = privacyv1alpha1.RoleDataScope{Default: "SpecificGroups", SpecificGroups: []string{"north"},
					Areas: []privacyv1alpha1.AreaScope{{Area: "Feedback", Scope: "SpecificGroups", SpecificGroups: []string{"south"}}}}
			}, privacyv1alpha1.ReasonSpecificGroupsEmpty, "area Feedback: scope SpecificGroups is left with no group"),
			Entry("RequiredPermissionRemoved", "qm-admin", func(s *privacyv1alpha1.RoleSpec) {
				s.Permissions = []string{"ManageRoles"}
			}, privacyv1alpha1.ReasonRequiredPermissionRemoved, "default role admin must keep the permissions ManageUsers"),
		)
	})

	DescribeTable("refuses an invalid spec with a message that says what to fix",
		func(mutate func(*privacyv1alpha1.Role), message string) {
			role := newRole(newNamespace(), "r", "Company", []string{"Data"}, []string{"ViewContacts"}, []string{"alice"}, "acme")
			mutate(role)
			Expect(k8s.Create(ctx, role)).To(MatchError(ContainSubstring(message)))
		},
		Entry("specificGroups without SpecificGroups", func(r *privacyv1alpha1.Role) {
			r.Spec.DataScope.SpecificGroups = []string{"north"}
		}, "dataScope.specificGroups is required when dataScope.default is SpecificGroups, and allowed only then"),
		Entry("SpecificGroups without groups", func(r *privacyv1alpha1.Role) {
			r.Spec.DataScope.Default = "SpecificGroups"
		}, "dataScope.specificGroups is required when dataScope.default is SpecificGroups, and allowed only then"),
		Entry("an area's SpecificGroups without groups", func(r *privacyv1alpha1.Role) {
			r.Spec.DataScope.Areas = []privacyv1alpha1.AreaScope{{Area: "QA", Scope: "SpecificGroups"}}
		}, "specificGroups is required when scope is SpecificGroups, and allowed only then"),
		Entry("a feature's groups without SpecificGroups", func(r *privacyv1alpha1.Role) {
			r.Spec.DataScope.Features = []privacyv1alpha1.FeatureScope{{Permission: "ManageCalibrations", Scope: "Company", SpecificGroups: []string{"x"}}}
		}, "specificGroups is required when scope is SpecificGroups, and allowed only then"),
		Entry("an e-mail address as a member", func(r *privacyv1alpha1.Role) {
			r.Spec.Members = []string{"alice@example.com"}
		}, `spec.members[0]: Invalid value: "alice@example.com"`),
		Entry("an unknown scope", func(r *privacyv1alpha1.Role) { r.Spec.DataScope.Default = "Everyone" }, `Unsupported value: "Everyone"`),
		Entry("no license", func(r *privacyv1alpha1.Role) { r.Spec.Licenses = nil }, "spec.licenses"),
	)

	It("keeps spec.default and spec.catalogRef immutable", func() {
		ns := newNamespace()
		role := newRole(ns, "r", "Company", []string{"Data"}, []string{"ViewContacts"}, nil, "acme")
		Expect(k8s.Create(ctx, role)).To(Succeed())
		// The controller writes the object too: retry on conflicts until the
		// API server answers the change itself.
		refused := func(mutate func(*privacyv1alpha1.Role), message string) {
			Eventually(func() error {
				r := getRole(ns, "r")
				mutate(r)
				return k8s.Update(ctx, r)
			}, timeout, interval).Should(MatchError(ContainSubstring(message)))
		}
		refused(func(r *privacyv1alpha1.Role) { r.Spec.Default = "administrator" }, "spec.default is immutable")
		refused(func(r *privacyv1alpha1.Role) { r.Spec.CatalogRef.Name = "other" }, "spec.catalogRef is immutable")
	})

	It("accepts the sample roles", func() {
		ns := newNamespace()
		for _, doc := range sampleDocuments("privacy_v1alpha1_role.yaml") {
			var role privacyv1alpha1.Role
			Expect(yaml.UnmarshalStrict(doc, &role)).To(Succeed())
			role.Namespace = ns
			Expect(k8s.Create(ctx, &role)).To(Succeed())
		}
	})
})
