package disruptive

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// edgeKeys are the key columns of Edge's tables (edge.devices has no
// primary key: its unique index over NOT NULL columns).
var edgeKeys = map[string][]string{
	"countries": {"code"}, "members": {"id"}, "accounts": {"code"}, "payments": {"paid_at", "id"},
	"refunds": {"id"}, "devices": {"member_id", "serial"}, "subscriptions": {"id"}, "profiles": {"member_id"},
	"addresses": {"id"}, "carts": {"id"}, "cart_items": {"id"}, "support_notes": {"id"}, "sessions": {"id"},
	"Loyalty Cards": {"Card Id"},
}

// edgeTable is an Edge table's canonical name, as the ledger and the
// inventory write it (edge.payments, edge."Loyalty Cards").
func edgeTable(name string) string { return tenantdb.TableName{Schema: "edge", Name: name}.String() }

// keyText is a row's key as the executor prints it in its ledger (one
// column's text, or a JSON array of the columns' texts), for alias.
func keyText(alias string, cols []string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = alias + "." + pgx.Identifier{c}.Sanitize() + "::text"
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "pg_catalog.json_build_array(" + strings.Join(parts, ", ") + ")::text"
}

// changeLogSQL records every UPDATE and DELETE of every Edge row, with the
// row's key and the transaction that made it, in disrupt.changes: an AFTER
// ... FOR EACH ROW trigger per table (on edge.payments it is cloned to
// every partition), so an ON DELETE CASCADE is recorded too.
func changeLogSQL() string {
	var b strings.Builder
	b.WriteString(`CREATE SCHEMA disrupt;
CREATE TABLE disrupt.changes (
    seq   bigserial PRIMARY KEY,
    tbl   text   NOT NULL,
    op    text   NOT NULL,
    key   text   NOT NULL,
    xid   bigint NOT NULL DEFAULT pg_catalog.txid_current()
);
`)
	tables := make([]string, 0, len(edgeKeys))
	for t := range edgeKeys {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		fn := pgx.Identifier{"disrupt", "record_" + t}.Sanitize()
		fmt.Fprintf(&b, `CREATE FUNCTION %[1]s() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO disrupt.changes (tbl, op, key) VALUES (%[2]s, TG_OP, %[3]s);
    RETURN NULL;
END
$f$;
CREATE TRIGGER disrupt_changes AFTER UPDATE OR DELETE ON %[4]s FOR EACH ROW EXECUTE FUNCTION %[1]s();
`, fn, quoteLiteral(t), keyText("OLD", edgeKeys[t]), pgx.Identifier{"edge", t}.Sanitize())
	}
	return b.String()
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// tenant is one tenant database with Edge loaded, its connection Secret, its
// TenantDatabase and the Edge DataInventory in a namespace of its own.
type tenant struct {
	namespace string
	name      string
	db        pgtest.Database
	// pool is the test's own, with the settings the manager pins, so key
	// texts print alike.
	pool *pgxpool.Pool
}

// newTenant creates namespace, a tenant database named name loaded with
// Edge sized by opts, then extra (more rows), then the change log, and the
// Secret, DataInventory and TenantDatabase that point at it. The
// TenantDatabase becomes Ready once a manager runs.
func newTenant(t *testing.T, namespace, name string, opts schemas.Options, extra string) *tenant {
	t.Helper()
	ctx := context.Background()
	env := suite.env
	load := func(ctx context.Context, conn *pgx.Conn) error {
		if err := schemas.Load(ctx, conn, schemas.Edge, opts); err != nil {
			return err
		}
		script := extra + "\n" + changeLogSQL() + "\nANALYZE;"
		_, err := conn.PgConn().Exec(ctx, script).ReadAll()
		return err
	}
	db, err := env.CreateTenantWith(ctx, namespace, name+"-db", name, "Edge", load)
	if err != nil {
		t.Fatal(err)
	}
	// Runs last, once the test's manager is gone: the managers of later
	// tests leave this one's objects alone.
	t.Cleanup(func() {
		kubectl(t, "", "delete", "-n", namespace, "--wait=false", "--ignore-not-found",
			"datasubjectrequests,retentionpolicies,tenantdatabases,datainventories", "--all")
	})
	cfg, err := pgxpool.ParseConfig(db.URI())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.RuntimeParams["TimeZone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["DateStyle"] = "ISO, YMD"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	inv, err := schemas.InventoryObject(schemas.Edge)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, fmt.Sprintf(`apiVersion: privacy.lethe.dev/v1alpha1
kind: TenantDatabase
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  tenant: %[1]s
  connection: {secretRef: {name: %[1]s-db}}
  inventoryRef: {name: %[3]s}
`, name, namespace, inv.Name))
	inv.Namespace = namespace
	if err := env.Client.Create(ctx, inv); err != nil {
		t.Fatalf("create DataInventory %s: %v", inv.Name, err)
	}
	return &tenant{namespace: namespace, name: name, db: db, pool: pool}
}

// apply applies manifests with kubectl, as a platform engineer would.
func apply(t *testing.T, manifests string) {
	t.Helper()
	kubectl(t, manifests, "apply", "-f", "-")
}

func kubectl(t *testing.T, stdin string, args ...string) {
	t.Helper()
	cmd := suite.env.Kubectl(args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// waitReady waits until the TenantDatabase is Ready: the manager is up and
// has migrated the lethe schema.
func (tn *tenant) waitReady(t *testing.T, c *chaos) {
	t.Helper()
	c.waitFor("TenantDatabase "+tn.name+" Ready", func() (bool, string, error) {
		var tdb privacyv1alpha1.TenantDatabase
		if err := suite.env.Client.Get(context.Background(), client.ObjectKey{Namespace: tn.namespace, Name: tn.name}, &tdb); err != nil {
			return false, "", err
		}
		return meta.IsStatusConditionTrue(tdb.Status.Conditions, privacyv1alpha1.ConditionReady), readyMessage(tdb.Status.Conditions), nil
	})
}

// readyMessage says what the Ready condition says.
func readyMessage(conds []metav1.Condition) string {
	c := meta.FindStatusCondition(conds, privacyv1alpha1.ConditionReady)
	if c == nil {
		return "no Ready condition"
	}
	return fmt.Sprintf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
}

// changeCount counts the recorded changes of op (UPDATE or DELETE).
func (tn *tenant) changeCount(ctx context.Context, op string) (int64, error) {
	var n int64
	err := tn.pool.QueryRow(ctx, "SELECT count(*) FROM disrupt.changes WHERE op = $1", op).Scan(&n)
	return n, err
}

// changes are the recorded changes of op: table -> key -> how many times.
func (tn *tenant) changes(t *testing.T, op string) map[string]map[string]int {
	t.Helper()
	return tn.keyCounts(t, "SELECT tbl, key FROM disrupt.changes WHERE op = $1", op)
}

// keyCounts runs a query of (table, key) rows and counts each key.
func (tn *tenant) keyCounts(t *testing.T, sql string, args ...any) map[string]map[string]int {
	t.Helper()
	rows, err := tn.pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]int{}
	var table, key string
	_, err = pgx.ForEachRow(rows, []any{&table, &key}, func() error {
		if out[table] == nil {
			out[table] = map[string]int{}
		}
		out[table][key]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// keys returns the key texts a query returns, as a set.
func (tn *tenant) keys(t *testing.T, sql string, args ...any) map[string]bool {
	t.Helper()
	rows, err := tn.pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool, len(list))
	for _, k := range list {
		out[k] = true
	}
	return out
}

func (tn *tenant) scalar(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := tn.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// verifyAuditChain checks the tenant's audit log's hash chain.
func (tn *tenant) verifyAuditChain(t *testing.T) {
	t.Helper()
	res, err := audit.Verify(context.Background(), tn.pool, audit.Head{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Intact {
		t.Errorf("the audit chain is broken: %s", res.Problem)
	}
	t.Logf("audit chain intact over %d records", res.Records)
}

// checkOnce fails for every key changed more than once, and for every
// difference between the keys changed and want, in table.
func checkOnce(t *testing.T, what, table string, got map[string]int, want map[string]bool) {
	t.Helper()
	var twice, extra, missing []string
	for k, n := range got {
		if n > 1 {
			twice = append(twice, fmt.Sprintf("%s (%d times)", k, n))
		}
		if !want[k] {
			extra = append(extra, k)
		}
	}
	for k := range want {
		if got[k] == 0 {
			missing = append(missing, k)
		}
	}
	report := func(msg string, keys []string) {
		sort.Strings(keys)
		if len(keys) > 5 {
			keys = append(keys[:5], fmt.Sprintf("and %d more", len(keys)-5))
		}
		t.Errorf("%s: %s in %s: %s", what, msg, table, strings.Join(keys, ", "))
	}
	if len(twice) > 0 {
		report("rows changed more than once", twice)
	}
	if len(extra) > 0 {
		report("rows changed that should not have been", extra)
	}
	if len(missing) > 0 {
		report("rows never changed", missing)
	}
}

func total(m map[string]int) (n int64) {
	for _, c := range m {
		n += int64(c)
	}
	return n
}

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
