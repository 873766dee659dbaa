package rolesync

import (
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/audit"
)

// xmins returns each row's transaction id (xmin) by key: a row a later
// transaction rewrote has another.
func xmins(t *testing.T, pool *pgxpool.Pool, sql string) map[string]string {
	t.Helper()
	rows, err := pool.Query(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, x string
		if err := rows.Scan(&k, &x); err != nil {
			t.Fatal(err)
		}
		out[k] = x
	}
	return out
}

func TestSyncWritesTheRoleWithAuditRecordsAndThenChangesNothing(t *testing.T) {
	pool := newTenant(t)
	c := testCatalog(t)
	spec := roleSpec("Company", []string{"Data"}, []string{"DeleteContact"}, []string{"alice", "bob"})
	req := request(t, c, "agent", spec)

	res := mustSync(t, pool, req, Applied)
	if res.Rows() != 1+1+2+1+2 {
		t.Errorf("rows changed = %d (%+v)", res.Rows(), res.Changes)
	}
	expectStrings(t, "permissions", strs(t, pool, "SELECT permission || '@' || area FROM lethe.role_permissions WHERE role_key = 'ns/agent'"),
		"DeleteContact@Feedback", "ViewContacts@Feedback")
	expectStrings(t, "members", strs(t, pool, "SELECT user_id FROM lethe.role_members"), "alice", "bob")
	expectStrings(t, "scopes", strs(t, pool, "SELECT kind || ' ' || name || ' ' || scope FROM lethe.role_scopes"), "area Feedback Company")
	expectStrings(t, "licenses", strs(t, pool, "SELECT license FROM lethe.role_licenses"), "Data")
	if !res.SeatsMayHaveChanged {
		t.Error("new members must be reported as moving seats")
	}
	if seats, err := CountSeats(ctx, pool, []string{"Data", "Usage"}); err != nil || !reflect.DeepEqual(seats, map[string]int64{"Data": 2}) {
		t.Errorf("seats = %v, %v", seats, err)
	}

	entries := auditEntries(t, pool, 0)
	want := []string{
		"SyncRole tester lethe.roles ns/agent: absent -> present",
		"SyncRole tester lethe.role_licenses Data: absent -> present",
		"SyncRole tester lethe.role_permissions DeleteContact: absent -> area Feedback; ViewContacts: absent -> area Feedback",
		"SyncRole tester lethe.role_scopes area Feedback: absent -> Company",
		"SyncRole tester lethe.role_members alice: absent -> present; bob: absent -> present",
	}
	if strings.Join(entries[len(entries)-len(want):], "\n") != strings.Join(want, "\n") {
		t.Errorf("audit records:\n%s\nwant:\n%s", strings.Join(entries, "\n"), strings.Join(want, "\n"))
	}
	if r, err := audit.Verify(ctx, pool, audit.Head{}); err != nil || !r.Intact {
		t.Errorf("audit chain: %+v %v", r, err)
	}

	head := auditHead(t, pool)
	if res := mustSync(t, pool, req, Unchanged); res.SeatsMayHaveChanged {
		t.Error("an unchanged role moves no seat")
	}
	if got := auditEntries(t, pool, head); len(got) != 0 {
		t.Errorf("an unchanged role must write no audit record, got %v", got)
	}
}

func TestSyncIsDiffBasedAndRevokesReallyRevoke(t *testing.T) {
	pool := newTenant(t)
	c := testCatalog(t)
	spec := roleSpec("Company", []string{"Data"}, []string{"DeleteContact", "ViewEvaluations"}, []string{"alice", "bob", "carol"})
	mustSync(t, pool, request(t, c, "agent", spec), Applied)
	const permXmin = "SELECT permission, xmin::text FROM lethe.role_permissions"
	const memberXmin = "SELECT user_id, xmin::text FROM lethe.role_members"
	const roleXmin = "SELECT role_key, xmin::text FROM lethe.roles"
	permsBefore, membersBefore, roleBefore := xmins(t, pool, permXmin), xmins(t, pool, memberXmin), xmins(t, pool, roleXmin)
	if !canDo(t, pool, "carol", "DeleteContact") {
		t.Fatal("carol must be able to DeleteContact before the revoke")
	}

	// Revoke DeleteContact (ViewContacts stays: chosen now), drop carol,
	// add dave, rename.
	spec.Permissions = []string{"ViewContacts", "ViewEvaluations"}
	spec.Members = []string{"alice", "bob", "dave"}
	spec.DisplayName = "Agents"
	head := auditHead(t, pool)
	mustSync(t, pool, request(t, c, "agent", spec), Applied)

	permsAfter, membersAfter := xmins(t, pool, permXmin), xmins(t, pool, memberXmin)
	for _, p := range []string{"ViewContacts", "ViewEvaluations"} {
		if permsAfter[p] != permsBefore[p] {
			t.Errorf("unchanged permission %s was rewritten", p)
		}
	}
	for _, m := range []string{"alice", "bob"} {
		if membersAfter[m] != membersBefore[m] {
			t.Errorf("unchanged member %s was rewritten", m)
		}
	}
	if _, ok := permsAfter["DeleteContact"]; ok {
		t.Error("DeleteContact must be deleted")
	}
	if _, ok := membersAfter["carol"]; ok {
		t.Error("carol must be deleted")
	}
	if xmins(t, pool, roleXmin)["ns/agent"] == roleBefore["ns/agent"] {
		t.Error("the renamed role's row must be updated")
	}
	if canDo(t, pool, "alice", "DeleteContact") || canDo(t, pool, "carol", "ViewContacts") {
		t.Error("revoked permission or removed member still allowed")
	}
	if !canDo(t, pool, "dave", "ViewEvaluations") {
		t.Error("new member dave must be able to ViewEvaluations")
	}
	want := []string{
		`SyncRole tester lethe.roles display_name: "Role" -> "Agents"`,
		"SyncRole tester lethe.role_permissions DeleteContact: area Feedback -> absent",
		"SyncRole tester lethe.role_members dave: absent -> present; carol: present -> absent",
	}
	if got := auditEntries(t, pool, head); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSyncRepairsRowsChangedByHand(t *testing.T) {
	pool := newTenant(t)
	c := testCatalog(t)
	spec := roleSpec("OwnTeam", []string{"Data"}, []string{"ViewContacts", "ViewEvaluations"}, []string{"alice"})
	req := request(t, c, "agent", spec)
	mustSync(t, pool, req, Applied)

	if _, err := pool.Exec(ctx, `
		UPDATE lethe.role_scopes SET scope = 'Company' WHERE name = 'QA';
		DELETE FROM lethe.role_permissions WHERE permission = 'ViewContacts';
		INSERT INTO lethe.role_members VALUES ('ns/agent', 'mallory');
		UPDATE lethe.roles SET display_name = 'Owned'`); err != nil {
		t.Fatal(err)
	}
	head := auditHead(t, pool)
	res := mustSync(t, pool, req, DriftRepaired)
	if res.Rows() != 4 {
		t.Errorf("rows repaired = %d (%+v)", res.Rows(), res.Changes)
	}
	expectStrings(t, "scopes", strs(t, pool, "SELECT name || ' ' || scope FROM lethe.role_scopes"), "Feedback OwnTeam", "QA OwnTeam")
	expectStrings(t, "members", strs(t, pool, "SELECT user_id FROM lethe.role_members"), "alice")
	expectStrings(t, "display name", strs(t, pool, "SELECT display_name FROM lethe.roles"), "Role")
	if !canDo(t, pool, "alice", "ViewContacts") || canDo(t, pool, "mallory", "ViewContacts") {
		t.Error("permissions not repaired")
	}
	got := strings.Join(auditEntries(t, pool, head), "\n")
	for _, want := range []string{
		`RepairRoleDrift tester lethe.roles display_name: "Owned" -> "Role"`,
		"RepairRoleDrift tester lethe.role_permissions ViewContacts: absent -> area Feedback",
		"RepairRoleDrift tester lethe.role_scopes area QA: Company -> OwnTeam",
		"RepairRoleDrift tester lethe.role_members mallory: present -> absent",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("audit records lack %q:\n%s", want, got)
		}
	}

	// A role row deleted by hand (its rows go with it) is drift too, when
	// the caller last saw the tenant in sync.
	if _, err := pool.Exec(ctx, "DELETE FROM lethe.roles"); err != nil {
		t.Fatal(err)
	}
	req.Synced = true
	mustSync(t, pool, req, DriftRepaired)
	expectStrings(t, "members", strs(t, pool, "SELECT user_id FROM lethe.role_members"), "alice")
}

func TestRemoveDeletesEveryRowOfTheRole(t *testing.T) {
	pool := newTenant(t)
	c := testCatalog(t)
	mustSync(t, pool, request(t, c, "agent", roleSpec("Company", []string{"Data"}, []string{"DeleteContact"}, []string{"alice"})), Applied)
	mustSync(t, pool, request(t, c, "other", roleSpec("Company", []string{"Data"}, []string{"ViewContacts"}, []string{"bob"})), Applied)

	rm := RemoveRequest{Key: "ns/agent", Object: audit.Object{Kind: "Role", Namespace: "ns", Name: "agent"}, Actor: "tester", Guards: GuardsOf(c)}
	res, err := Remove(ctx, pool, rm)
	if err != nil || res.Outcome != Applied {
		t.Fatalf("remove: %+v %v", res, err)
	}
	for _, table := range []string{"roles", "role_licenses", "role_permissions", "role_scopes", "role_members"} {
		expectStrings(t, table, strs(t, pool, "SELECT DISTINCT role_key FROM lethe."+table), "ns/other")
	}
	entries := auditEntries(t, pool, 0)
	if last := entries[len(entries)-1]; last != "RemoveRole tester lethe.roles ns/agent: present -> absent (with 1 licenses, 2 permissions, 1 scopes, 1 members)" {
		t.Errorf("audit record: %s", last)
	}
	if res, err := Remove(ctx, pool, rm); err != nil || res.Outcome != Unchanged {
		t.Errorf("second remove: %+v %v", res, err)
	}
}

func canDo(t *testing.T, pool *pgxpool.Pool, user, permission string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(ctx, "SELECT lethe.can($1, $2)", user, permission).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}
