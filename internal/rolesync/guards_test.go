package rolesync

import (
	"reflect"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
)

func TestSeatsAreCountedOnceAcrossRolesAndGuarded(t *testing.T) {
	pool := newTenant(t)
	if _, err := EnsureOrganization(ctx, pool, organization, audit.Object{Kind: "TenantDatabase"}, "tester"); err != nil {
		t.Fatal(err)
	}
	c := testCatalog(t) // Data: 4 seats
	mustSync(t, pool, request(t, c, "a", roleSpec("Company", []string{"Data"}, []string{"ViewContacts"}, []string{"alice", "bob"})), Applied)
	// bob holds both roles: one seat. erin is inactive: no seat.
	mustSync(t, pool, request(t, c, "b", roleSpec("Company", []string{"Data", "Usage"}, []string{"ViewEvaluations"},
		[]string{"bob", "carol", "erin"})), Applied)
	seats, err := CountSeats(ctx, pool, []string{"Data", "Usage", "Administration"})
	if want := map[string]int64{"Data": 3, "Usage": 2}; err != nil || !reflect.DeepEqual(seats, want) {
		t.Errorf("seats = %v (%v), want %v", seats, err, want)
	}

	// dave takes the last seat; frank would be the fifth.
	mustSync(t, pool, request(t, c, "c", roleSpec("Company", []string{"Data"}, []string{"ViewContacts"}, []string{"dave"})), Applied)
	over := request(t, c, "c", roleSpec("Company", []string{"Data"}, []string{"ViewContacts"}, []string{"dave", "frank"}))
	head := auditHead(t, pool)
	res := mustSync(t, pool, over, Refused)
	if res.Refusal.Reason != privacyv1alpha1.ReasonSeatsExceeded ||
		!reflect.DeepEqual(res.Refusal.Problems, []string{"license Data would use 5 of 4 seats"}) {
		t.Errorf("refusal = %+v", res.Refusal)
	}
	expectStrings(t, "members of c", strs(t, pool, "SELECT user_id FROM lethe.role_members WHERE role_key = 'ns/c'"), "dave")
	if got := auditEntries(t, pool, head); len(got) != 0 {
		t.Errorf("a refused change must leave no audit record: %v", got)
	}
	if seats, err := CountSeats(ctx, pool, []string{"Data"}); err != nil || seats["Data"] != 4 {
		t.Errorf("seats after the refusal = %v, %v", seats, err)
	}

	// Plenty of seats: the guard need not count, and lets the change through.
	c.Spec.Licenses[0].Seats = 1000
	mustSync(t, pool, request(t, c, "d", roleSpec("Company", []string{"Data"}, []string{"ViewContacts"}, []string{"frank"})), Applied)
	if _, err := Remove(ctx, pool, RemoveRequest{Key: "ns/d", Object: audit.Object{Kind: "Role"}, Actor: "tester", Guards: GuardsOf(c)}); err != nil {
		t.Fatal(err)
	}
	c.Spec.Licenses[0].Seats = 4

	// A member becoming inactive frees a seat.
	if _, err := pool.Exec(ctx, "UPDATE app.users SET active = false WHERE id = 'alice'"); err != nil {
		t.Fatal(err)
	}
	mustSync(t, pool, over, Applied)
}

func TestTheLastRoleManagerIsKept(t *testing.T) {
	pool := newTenant(t)
	if _, err := EnsureOrganization(ctx, pool, organization, audit.Object{Kind: "TenantDatabase"}, "tester"); err != nil {
		t.Fatal(err)
	}
	c := testCatalog(t)
	admin := roleSpec("Company", []string{"Administration"}, []string{"ManageUsers"}, []string{"alice"})
	// A tenant with no manager yet may be set up role by role.
	mustSync(t, pool, request(t, c, "agent", roleSpec("Self", []string{"Data"}, []string{"ViewContacts"}, []string{"bob"})), Applied)
	mustSync(t, pool, request(t, c, "admin", admin), Applied)

	refused := func(name string, spec *privacyv1alpha1.RoleSpec, wantLost ...string) {
		t.Helper()
		res := mustSync(t, pool, request(t, c, name, spec), Refused)
		if res.Refusal.Reason != privacyv1alpha1.ReasonLastRoleManager || !reflect.DeepEqual(res.Refusal.Problems, wantLost) {
			t.Errorf("refusal = %+v, want LastRoleManager %v", res.Refusal, wantLost)
		}
		expectStrings(t, "admin members", strs(t, pool, "SELECT user_id FROM lethe.role_members WHERE role_key = 'ns/admin'"), "alice")
	}
	noMembers := *admin
	noMembers.Members = nil
	refused("admin", &noMembers, "ManageRoles", "ManageUsers")
	rolesOnly := *admin
	rolesOnly.Permissions = []string{"ManageRoles"}
	refused("admin", &rolesOnly, "ManageUsers")
	// erin is inactive: she cannot be the last manager.
	toErin := *admin
	toErin.Members = []string{"erin"}
	refused("admin", &toErin, "ManageRoles", "ManageUsers")

	rm := RemoveRequest{Key: "ns/admin", Object: audit.Object{Kind: "Role", Name: "admin"}, Actor: "tester", Guards: GuardsOf(c)}
	res, err := Remove(ctx, pool, rm)
	if err != nil || res.Outcome != Refused || res.Refusal.Reason != privacyv1alpha1.ReasonLastRoleManager {
		t.Fatalf("remove of the last manager's role: %+v %v", res, err)
	}
	expectStrings(t, "roles", strs(t, pool, "SELECT role_key FROM lethe.roles"), "ns/admin", "ns/agent")

	// With a second manager, the first may go.
	second := *admin
	second.Members = []string{"frank"}
	mustSync(t, pool, request(t, c, "admin2", &second), Applied)
	mustSync(t, pool, request(t, c, "admin", &noMembers), Applied)
	if res, err := Remove(ctx, pool, rm); err != nil || res.Outcome != Applied {
		t.Fatalf("remove: %+v %v", res, err)
	}
}
