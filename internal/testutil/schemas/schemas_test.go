package schemas_test

import (
	"context"
	"os"
	"testing"

	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Every schema loads, and its hand-written inventory matches the live
// catalog.
func TestLoadAndInventory(t *testing.T) {
	for _, name := range schemas.All {
		t.Run(name, func(t *testing.T) {
			pool, _, inv := schemas.Open(t, name, schemas.Options{})
			cat, err := tenantdb.ReadCatalog(context.Background(), pool)
			if err != nil {
				t.Fatal(err)
			}
			if problems := inventory.Validate(inv, cat); len(problems) > 0 {
				t.Fatalf("inventory of %s does not match: %v", name, problems)
			}
			if _, problems := inventory.CheckGraph(inv); len(problems) > 0 {
				t.Fatalf("inventory of %s is inconsistent: %v", name, problems)
			}
		})
	}
}

// Edge has the shapes its doc promises, as the catalog reads them.
func TestEdgeShapes(t *testing.T) {
	pool, _, _ := schemas.Open(t, schemas.Edge, schemas.Options{})
	cat, err := tenantdb.ReadCatalog(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	payments := cat.Tables["edge.payments"]
	if payments == nil || !payments.Partitioned || len(payments.Key) != 2 || payments.KeySource != "primary key" {
		t.Fatalf("edge.payments: %+v", payments)
	}
	if _, ok := cat.Tables["edge.payments_m00"]; ok {
		t.Fatal("a partition is listed as a table")
	}
	devices := cat.Tables["edge.devices"]
	if len(devices.PrimaryKey) != 0 || len(devices.Key) != 2 || devices.KeySource != "unique index devices_member_serial" {
		t.Fatalf("edge.devices key: %v from %q", devices.Key, devices.KeySource)
	}
	if !cat.Tables["edge.members"].IsUniqueKey([]string{"email"}) {
		t.Fatal("members.email is not read as a unique key")
	}
	if !cat.Tables["edge.refunds"].IndexedOn([]string{"payment_id", "paid_at"}) {
		t.Fatal("refunds' two-column index is not read")
	}
	byName := map[string]tenantdb.ForeignKey{}
	for _, fk := range cat.ForeignKeys {
		byName[fk.Name] = fk
	}
	if fk := byName["sessions_member_id_fkey"]; fk.OnDelete != tenantdb.OnDeleteCascade || fk.Blocks() {
		t.Fatalf("sessions fk: %+v", fk)
	}
	if fk := byName["support_notes_member_id_fkey"]; fk.OnDelete != tenantdb.OnDeleteNoAction || !fk.Blocks() {
		t.Fatalf("support notes fk: %+v", fk)
	}
	if fk := byName["carts_last_item_fkey"]; !fk.Deferrable {
		t.Fatalf("carts fk: %+v", fk)
	}
	if fk := byName["refunds_paid_at_payment_id_fkey"]; len(fk.Columns) != 2 || fk.RefTable != "edge.payments" {
		t.Fatalf("refunds fk: %+v", fk)
	}
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM edge.members WHERE id = $1::uuid AND email = $2",
		schemas.MemberID(7), schemas.MemberEmail(7)).Scan(&n); err != nil || n != 1 {
		t.Fatalf("member 7 by id and e-mail: %d, %v", n, err)
	}
}
