package controllers

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

var _ = Describe("Role guards and scopes", func() {
	It("counts seats once across roles with shared members and refuses a role that would exceed them", func() {
		ns := newNamespace()
		db := roleTenant(ns, "acme", nil)
		Expect(k8s.Create(ctx, testCatalog(ns, 4))).To(Succeed()) // four Data seats
		data := []string{"Data"}
		Expect(k8s.Create(ctx, newRole(ns, "a", "Company", data, []string{"ViewContacts"}, []string{"alice", "bob"}, "acme"))).To(Succeed())
		expectRole(ns, "a", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		// bob holds both roles and takes one seat; erin is inactive and takes none.
		Expect(k8s.Create(ctx, newRole(ns, "b", "Company", data, []string{"ViewEvaluations"}, []string{"bob", "carol", "erin"}, "acme"))).To(Succeed())
		expectRole(ns, "b", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		// Seat counts are shared by the roles of a tenant and refreshed within
		// a tenth of the resync interval.
		for _, name := range []string{"a", "b"} {
			Eventually(func() []privacyv1alpha1.LicenseSeats { return getRole(ns, name).Status.Targets[0].Seats }, timeout, interval).
				Should(Equal([]privacyv1alpha1.LicenseSeats{{License: "Data", Used: 3, Available: 1}}), "role %s", name)
		}

		Expect(k8s.Create(ctx, newRole(ns, "c", "Company", data, []string{"ViewContacts"}, []string{"dave", "frank"}, "acme"))).To(Succeed())
		c := expectRole(ns, "c", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonSeatsExceeded)
		Expect(c.Message).To(ContainSubstring("tenant acme keeps its previous state: license Data would use 5 of 4 seats"))
		Expect(tenantRows(db, "SELECT role_key FROM lethe.roles")).To(Equal([]string{ns + "/a", ns + "/b"}))
		Expect(getRole(ns, "c").Status.Targets[0].Reason).To(Equal(privacyv1alpha1.ReasonSeatsExceeded))

		By("freeing a seat heals the refused role on its next resync")
		updateRole(ns, "b", func(r *privacyv1alpha1.Role) { r.Spec.Members = []string{"bob"} })
		Eventually(func() []string {
			return tenantRows(db, "SELECT user_id FROM lethe.role_members WHERE role_key = $1", ns+"/c")
		},
			timeout, interval).Should(Equal([]string{"dave", "frank"}))
		expectRole(ns, "c", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
	})

	It("keeps at least one active user able to manage roles and users", func() {
		ns := newNamespace()
		db := roleTenant(ns, "acme", nil)
		Expect(k8s.Create(ctx, testCatalog(ns, 10))).To(Succeed())
		admin := []string{"Administration"}
		Expect(k8s.Create(ctx, newRole(ns, "admins", "Company", admin, []string{"ManageUsers"}, []string{"alice"}, "acme"))).To(Succeed())
		expectRole(ns, "admins", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)

		By("refusing an edit that removes the last manager")
		updateRole(ns, "admins", func(r *privacyv1alpha1.Role) { r.Spec.Members = []string{"erin"} }) // erin is inactive
		c := expectRole(ns, "admins", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonLastRoleManager)
		Expect(c.Message).To(ContainSubstring(
			"tenant acme keeps its previous state: the change would leave no active user holding ManageRoles and ManageUsers"))
		Expect(tenantRows(db, "SELECT user_id FROM lethe.role_members")).To(Equal([]string{"alice"}))

		By("refusing to delete the last managers' role when the other holder is inactive")
		updateRole(ns, "admins", func(r *privacyv1alpha1.Role) { r.Spec.Members = []string{"alice"} })
		expectRole(ns, "admins", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		// Admission counts erin, who only the tenant database knows is
		// inactive: the controller's guard is the second line.
		Expect(k8s.Create(ctx, newRole(ns, "admins2", "Company", admin, []string{"ManageUsers"}, []string{"erin"}, "acme"))).To(Succeed())
		expectRole(ns, "admins2", privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		Expect(k8s.Delete(ctx, getRole(ns, "admins"))).To(Succeed())
		c = expectRole(ns, "admins", privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonLastRoleManager)
		Expect(c.Message).To(ContainSubstring("removing the role would leave no active user holding ManageRoles and ManageUsers"))
		Consistently(func() error {
			return k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "admins"}, &privacyv1alpha1.Role{})
		}, "3s", interval).Should(Succeed())
		Expect(tenantRows(db, "SELECT role_key FROM lethe.roles")).To(Equal([]string{ns + "/admins", ns + "/admins2"}))

		By("letting it go once another active user manages roles and users")
		updateRole(ns, "admins2", func(r *privacyv1alpha1.Role) { r.Spec.Members = []string{"frank"} })
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "admins"}, &privacyv1alpha1.Role{}))
		}, timeout, interval).Should(BeTrue())
		Expect(tenantRows(db, "SELECT role_key FROM lethe.roles")).To(Equal([]string{ns + "/admins2"}))
	})

	It("evaluates every scope rule in the database", func() {
		ns := newNamespace()
		db := roleTenant(ns, "acme", nil)
		Expect(k8s.Create(ctx, testCatalog(ns, 10))).To(Succeed())
		data, both := []string{"Data"}, []string{"Data", "Usage"}
		feedback := []string{"ViewContacts"}
		specific := newRole(ns, "specific", "SpecificGroups", data, feedback, []string{"dave"}, "acme")
		specific.Spec.DataScope.SpecificGroups = []string{"north"}
		company := newRole(ns, "company", "Company", both, []string{"ManageCalibrations", "ViewContacts", "ViewFeed"}, []string{"frank", "erin"}, "acme")
		company.Spec.DataScope.Areas = []privacyv1alpha1.AreaScope{{Area: "QA", Scope: "OwnTeam"}, {Area: "Social", Scope: "OwnGroup"}}
		company.Spec.DataScope.Features = []privacyv1alpha1.FeatureScope{{Permission: "ManageCalibrations", Scope: "Company"}}
		for _, role := range []*privacyv1alpha1.Role{
			newRole(ns, "self", "Self", both, []string{"ViewContacts", "ViewFeed"}, []string{"alice"}, "acme"),
			newRole(ns, "own-group", "OwnGroup", data, feedback, []string{"bob"}, "acme"),
			newRole(ns, "own-team", "OwnTeam", data, feedback, []string{"carol"}, "acme"),
			specific, company,
		} {
			Expect(k8s.Create(ctx, role)).To(Succeed())
			expectRole(ns, role.Name, privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonSucceeded)
		}
		Expect(getRole(ns, "company").Status.FeatureScopes).To(Equal([]privacyv1alpha1.EffectiveScope{
			{Name: "ManageCalibrations", Scope: "Company", Source: "Role"}}))

		everyone := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
		visible := func(fn, user, arg string) []string {
			return tenantRows(db, "SELECT lethe."+fn+"($1, $2)", user, arg)
		}
		Expect(visible("visible_users", "alice", "Feedback")).To(Equal([]string{"alice"}), "Self")
		Expect(visible("visible_users", "alice", "Social")).To(Equal(everyone), "Social ignores the Self default")
		Expect(visible("visible_users", "bob", "Feedback")).To(Equal([]string{"alice", "bob", "carol"}), "OwnGroup")
		Expect(visible("visible_users", "carol", "Feedback")).To(Equal([]string{"carol", "dave"}), "OwnTeam")
		Expect(visible("visible_users", "dave", "Feedback")).To(Equal([]string{"alice", "bob", "dave"}), "SpecificGroups, and always their own data")
		Expect(visible("visible_users", "frank", "Feedback")).To(Equal(everyone), "Company")
		Expect(visible("visible_users", "frank", "QA")).To(Equal([]string{"erin", "frank"}), "an area narrower than the default")
		Expect(visible("visible_users_for_permission", "frank", "ManageCalibrations")).To(Equal(everyone), "a feature scope overrides its area")
		Expect(visible("visible_users_for_permission", "frank", "ViewEvaluations")).To(Equal([]string{"erin", "frank"}), "others follow the area")
		Expect(visible("visible_users", "erin", "Feedback")).To(Equal([]string{"erin"}), "an inactive user sees only their own data")
		Expect(visible("visible_users", "zoe", "Feedback")).To(Equal([]string{"zoe"}), "a user always sees their own data")
		Expect(tenantRows(db, "SELECT lethe.can('frank', 'ViewEvaluations')::text || lethe.can('erin', 'ViewContacts')::text")).
			To(Equal([]string{"truefalse"}))
	})
})
