package controllers

import (
	"bytes"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// sampleDocuments reads the YAML documents of a file of config/samples.
func sampleDocuments(file string) [][]byte {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join("..", "config", "samples", file)) // #nosec G304 -- a file of config/samples
	Expect(err).NotTo(HaveOccurred())
	var docs [][]byte
	for _, d := range bytes.Split(raw, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

func sampleCatalog(ns, file string) *privacyv1alpha1.PermissionCatalog {
	GinkgoHelper()
	var cat privacyv1alpha1.PermissionCatalog
	Expect(yaml.UnmarshalStrict(sampleDocuments(file)[0], &cat)).To(Succeed())
	cat.Namespace = ns
	return &cat
}

// expectCatalog waits until a catalog's Ready condition has the status and
// reason for its current generation, and returns it.
func expectCatalog(ns, name string, status metav1.ConditionStatus, reason string) *privacyv1alpha1.PermissionCatalog {
	GinkgoHelper()
	var got privacyv1alpha1.PermissionCatalog
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &got)).To(Succeed())
		c := meta.FindStatusCondition(got.Status.Conditions, privacyv1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		g.Expect(c.Status).To(Equal(status), "%s: %s", c.Reason, c.Message)
		g.Expect(c.Reason).To(Equal(reason), c.Message)
	}, timeout, interval).Should(Succeed())
	return &got
}

func readyMessage(conds []metav1.Condition) string {
	return meta.FindStatusCondition(conds, privacyv1alpha1.ConditionReady).Message
}

var _ = Describe("PermissionCatalog", func() {
	It("accepts both samples, reports them Ready and creates their default roles", func() {
		ns := newNamespace()
		qm := sampleCatalog(ns, "privacy_v1alpha1_permissioncatalog_qm.yaml")
		Expect(len(qm.Spec.Permissions)).To(BeNumerically(">=", 40))
		Expect(k8s.Create(ctx, qm)).To(Succeed())
		Expect(k8s.Create(ctx, sampleCatalog(ns, "privacy_v1alpha1_permissioncatalog_fivearea.yaml"))).To(Succeed())

		got := expectCatalog(ns, "qm-analytics", metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(got.Status.DefaultRoles).To(Equal([]string{"qm-analytics-administrator", "qm-analytics-supervisor", "qm-analytics-agent"}))
		Expect(got.Status.MaxDependencyDepth).To(BeNumerically(">=", 3))
		five := expectCatalog(ns, "performance", metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(five.Status.Areas).To(Equal(int32(5)))

		admin := getRole(ns, "qm-analytics-administrator")
		Expect(admin.Spec.Default).To(Equal("administrator"))
		Expect(admin.Labels).To(HaveKeyWithValue("privacy.lethe.dev/catalog", "qm-analytics"))
		Expect(admin.Spec.Permissions).To(ContainElements("ManageRoles", "ManageUsers"))
		Expect(admin.Spec.Targets.Selector).NotTo(BeNil(), "default roles target every TenantDatabase of the namespace")
		// No TenantDatabase yet: synced into none, Ready.
		expectRole(ns, "qm-analytics-administrator", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		expectRole(ns, "performance-team-member", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(getRole(ns, "performance-team-member").Status.AreaScopes).To(ContainElement(
			privacyv1alpha1.EffectiveScope{Name: "Social", Scope: "Company", Source: "Catalog"}))
		Eventually(func() string { return eventsOf(ns, "qm-analytics") }, timeout, interval).Should(
			ContainSubstring("DefaultRoleCreated created the default roles as Roles qm-analytics-administrator, qm-analytics-supervisor, qm-analytics-agent"))
	})

	It("lets a default role be renamed but not deleted, and keeps its required permissions", func() {
		ns := newNamespace()
		db := roleTenant(ns, "acme", nil)
		cat := testCatalog(ns, 10)
		cat.Spec.DefaultRoles = []privacyv1alpha1.CatalogDefaultRole{{Name: "supervisor", DisplayName: "Supervisor",
			Licenses: []string{"Data"}, Permissions: []string{"DeleteContact"}, RequiredPermissions: []string{"ViewContacts"}, DefaultScope: "OwnTeam"}}
		Expect(k8s.Create(ctx, cat)).To(Succeed())
		expectRole(ns, "qm-supervisor", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(tenantRows(db, "SELECT display_name || ' ' || default_role FROM lethe.roles")).To(Equal([]string{"Supervisor supervisor"}))

		By("renaming it")
		updateRole(ns, "qm-supervisor", func(r *privacyv1alpha1.Role) { r.Spec.DisplayName = "Team lead" })
		expectRole(ns, "qm-supervisor", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(tenantRows(db, "SELECT display_name FROM lethe.roles")).To(Equal([]string{"Team lead"}))

		By("refusing its deletion at admission")
		Expect(k8s.Delete(ctx, getRole(ns, "qm-supervisor"))).To(MatchError(ContainSubstring(
			"Role qm-supervisor is the default role supervisor of PermissionCatalog qm and cannot be deleted: rename it with spec.displayName")))
		Expect(getRole(ns, "qm-supervisor").DeletionTimestamp).To(BeNil())

		By("keeping it with the finalizer when admission is bypassed")
		restore := withoutValidatingWebhook("role.privacy.lethe.dev")
		// The API server picks the changed configuration up from its watch.
		Eventually(func() error { return k8s.Delete(ctx, getRole(ns, "qm-supervisor")) }, timeout, interval).Should(Succeed())
		restore()
		c := expectRole(ns, "qm-supervisor", privacyv1alpha1.ConditionDeletionRefused, metav1.ConditionTrue, privacyv1alpha1.ReasonDefaultRole)
		Expect(c.Message).To(ContainSubstring("is the default role supervisor of PermissionCatalog qm and cannot be deleted"))
		Consistently(func() error {
			return k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "qm-supervisor"}, &privacyv1alpha1.Role{})
		}, "3s", interval).Should(Succeed())
		Expect(tenantRows(db, "SELECT display_name FROM lethe.roles")).To(Equal([]string{"Team lead"}))
		Eventually(func() string { return eventsOf(ns, "qm-supervisor") }, timeout, interval).Should(ContainSubstring("DefaultRole"))

		By("keeping its required permissions")
		updateRole(ns, "qm-supervisor", func(r *privacyv1alpha1.Role) { r.Spec.Permissions = []string{"ViewEvaluations"} })
		c = expectRole(ns, "qm-supervisor", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonRequiredPermissionRemoved)
		Expect(c.Message).To(ContainSubstring("default role supervisor must keep the permissions ViewContacts"))
		Expect(tenantRows(db, "SELECT permission FROM lethe.role_permissions")).To(ContainElement("ViewContacts"))

		By("letting it go once the catalog no longer lists it")
		Eventually(func() error {
			var cur privacyv1alpha1.PermissionCatalog
			if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "qm"}, &cur); err != nil {
				return err
			}
			cur.Spec.DefaultRoles = nil
			return k8s.Update(ctx, &cur)
		}, timeout, interval).Should(Succeed())
		Eventually(func() []string { return tenantRows(db, "SELECT role_key FROM lethe.roles") }, timeout, interval).Should(BeEmpty())
	})

	It("names dependency cycles and unknown references, and heals when they are fixed", func() {
		ns := newNamespace()
		cat := testCatalog(ns, 10)
		cat.Spec.Permissions[1].Requires = []string{"DeleteContact"} // ViewRecycleBin ↔ DeleteContact
		cat.Spec.Permissions[3].Requires = []string{"ViewTrash"}
		Expect(k8s.Create(ctx, cat)).To(Succeed())
		got := expectCatalog(ns, "qm", metav1.ConditionFalse, privacyv1alpha1.ReasonCatalogInvalid)
		Expect(readyMessage(got.Status.Conditions)).To(And(
			ContainSubstring("permission ViewEvaluations requires unknown permission ViewTrash"),
			ContainSubstring("required permissions form a cycle: ViewRecycleBin → DeleteContact → ViewRecycleBin")))
		Expect(meta.IsStatusConditionTrue(got.Status.Conditions, privacyv1alpha1.ConditionStalled)).To(BeTrue())

		By("stalling the roles of an invalid catalog")
		Expect(k8s.Create(ctx, newRole(ns, "r", "Self", []string{"Data"}, []string{"ViewContacts"}, nil, "acme"))).To(Succeed())
		expectRole(ns, "r", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonCatalogInvalid)

		got.Spec.Permissions[1].Requires = nil
		got.Spec.Permissions[3].Requires = nil
		Expect(k8s.Update(ctx, got)).To(Succeed())
		expectCatalog(ns, "qm", metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		expectRole(ns, "r", privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonTenantDatabaseNotFound)
	})

	It("reports a Role that takes a default role's name", func() {
		ns := newNamespace()
		Expect(k8s.Create(ctx, newRole(ns, "qm-admin", "Self", []string{"Data"}, []string{"ViewContacts"}, nil, "acme"))).To(Succeed())
		cat := testCatalog(ns, 10)
		cat.Spec.DefaultRoles = []privacyv1alpha1.CatalogDefaultRole{{Name: "admin", DisplayName: "Admin", Licenses: []string{"Administration"},
			RequiredPermissions: []string{"ManageUsers"}}}
		Expect(k8s.Create(ctx, cat)).To(Succeed())
		got := expectCatalog(ns, "qm", metav1.ConditionFalse, privacyv1alpha1.ReasonDefaultRoleConflict)
		Expect(readyMessage(got.Status.Conditions)).To(ContainSubstring(
			"Role qm-admin exists but is not the default role admin of this catalog"))
	})

	DescribeTable("refuses an invalid catalog with a message that says what to fix",
		func(mutate func(*privacyv1alpha1.PermissionCatalogSpec), message string) {
			cat := testCatalog(newNamespace(), 10)
			mutate(&cat.Spec)
			Expect(k8s.Create(ctx, cat)).To(MatchError(ContainSubstring(message)))
		},
		Entry("duplicate permission", func(s *privacyv1alpha1.PermissionCatalogSpec) {
			s.Permissions = append(s.Permissions, s.Permissions[0])
		}, `spec.permissions[10]: Duplicate value`),
		Entry("duplicate area", func(s *privacyv1alpha1.PermissionCatalogSpec) { s.Areas = append(s.Areas, s.Areas[0]) }, `spec.areas[4]: Duplicate value`),
		Entry("permission in an unknown area", func(s *privacyv1alpha1.PermissionCatalogSpec) { s.Permissions[0].Area = "Billing" },
			"spec.permissions[].area must name an area declared in spec.areas"),
		Entry("permission with an unknown license", func(s *privacyv1alpha1.PermissionCatalogSpec) { s.Permissions[0].Licenses = []string{"Gold"} },
			"spec.permissions[].licenses must name licenses declared in spec.licenses"),
		Entry("unknown manage-roles permission", func(s *privacyv1alpha1.PermissionCatalogSpec) { s.ManageRolesPermission = "Manage" },
			"spec.manageRolesPermission must name a permission declared in spec.permissions"),
		Entry("unknown manage-users permission", func(s *privacyv1alpha1.PermissionCatalogSpec) { s.ManageUsersPermission = "Manage" },
			"spec.manageUsersPermission must name a permission declared in spec.permissions"),
		Entry("default role with an unknown license", func(s *privacyv1alpha1.PermissionCatalogSpec) {
			s.DefaultRoles = []privacyv1alpha1.CatalogDefaultRole{{Name: "x", DisplayName: "X", Licenses: []string{"Gold"}}}
		}, "spec.defaultRoles[].licenses must name licenses declared in spec.licenses"),
		Entry("default role scoped to SpecificGroups", func(s *privacyv1alpha1.PermissionCatalogSpec) {
			s.DefaultRoles = []privacyv1alpha1.CatalogDefaultRole{{Name: "x", DisplayName: "X", Licenses: []string{"Data"}, DefaultScope: "SpecificGroups"}}
		}, "defaultRoles[].defaultScope cannot be SpecificGroups"),
		Entry("area ignoring the default scope without its own", func(s *privacyv1alpha1.PermissionCatalogSpec) { s.Areas[3].DefaultScope = "" },
			"an area that ignores the role's default scope needs defaultScope"),
		Entry("area default scope it does not allow", func(s *privacyv1alpha1.PermissionCatalogSpec) { s.Areas[3].DefaultScope = "Self" },
			"defaultScope must be one of allowedScopes"),
		Entry("area default scope SpecificGroups", func(s *privacyv1alpha1.PermissionCatalogSpec) {
			s.Areas[0].DefaultScope = "SpecificGroups"
		}, "defaultScope cannot be SpecificGroups"),
		Entry("permission name with a space", func(s *privacyv1alpha1.PermissionCatalogSpec) { s.Permissions[0].Name = "View Contacts" },
			`spec.permissions[0].name: Invalid value: "View Contacts"`),
		Entry("negative seats", func(s *privacyv1alpha1.PermissionCatalogSpec) { s.Licenses[0].Seats = -1 },
			"spec.licenses[0].seats: Invalid value: -1"),
	)
})
