package dsr

import (
	"context"
	"strings"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

var blindKey = []byte("a namespace's blind-index key, 32+ bytes long")

// The database computes the same blind index as Go, over the same normal
// form: an e-mail in any case, a phone number in any spacing.
func TestBlindIndexIsTheSameInTheDatabaseForEveryFormOfAnIdentifier(t *testing.T) {
	pool, _, _ := schemas.Open(t, schemas.Chinook, schemas.Options{})
	tests := []struct{ stored, given string }{
		{"Luis.Rojas@Example.COM", "luis.rojas@example.com"},
		{"luis.rojas@example.com", "LUIS.ROJAS@EXAMPLE.COM"},
		{"+46 (8) 123 45 67", "468-1234567"},
		{"+1 555.010.9999", "15550109999"},
		{"12", "12"},
		// Too few digits for a phone: compared lower-cased, as it is.
		{"12-34", "12-34"},
	}
	for _, tt := range tests {
		args := &masking.Args{}
		sql := "SELECT " + masking.HMACSQL(args.Add, blindKey, normalFormSQL(args.Add(tt.stored)+"::text"))
		got := scalar[string](t, pool, sql, args.Values()...)
		if want := BlindIndex(blindKey, tt.given); got != want {
			t.Errorf("%q in the database has blind index %s; %q in Go has %s", tt.stored, got, tt.given, want)
		}
	}
	if BlindIndex(blindKey, "a@example.com") == BlindIndex([]byte("another key"), "a@example.com") {
		t.Error("the blind index does not depend on the key")
	}
	if BlindIndex(blindKey, "a@example.com") == BlindIndex(blindKey, "b@example.com") {
		t.Error("two e-mails have the same blind index")
	}
}

// On the public Chinook schema, an erasure leaves its tombstone, blind
// indexes and no identifier, in the transaction that completes it; applied
// to a copy of the database taken before the erasure (a restored backup),
// the tombstone finds the customer by the blind index of the e-mail, now
// stored in another case, erases the customer and the invoices again with
// audit records of its own, and is written back.
func TestTombstoneReappliesAnErasureOnARestoredChinook(t *testing.T) {
	erased, _, spec := schemas.Open(t, schemas.Chinook, schemas.Options{})
	restored, _, _ := schemas.Open(t, schemas.Chinook, schemas.Options{})
	ctx := context.Background()
	email := scalar[string](t, erased, "SELECT email FROM public.customer WHERE customer_id = 12")

	in := request("erase-12", privacyv1alpha1.RequestErasure, spec, "customer", map[string]string{"email": email})
	in.Method = privacyv1alpha1.ErasureAnonymize
	in.BlindKey, in.RequestName = blindKey, "erase-12"
	out, err := Execute(ctx, erased, in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Tombstone == nil || len(out.Tombstone.Roots) != 1 {
		t.Fatalf("the erasure's tombstone: %+v", out.Tombstone)
	}
	tombs, err := ReadTombstones(ctx, erased)
	if err != nil {
		t.Fatal(err)
	}
	tomb := tombs["erase-12"]
	if tomb == nil {
		t.Fatalf("no tombstone in lethe.erasure_tombstones: %v", tombs)
	}
	root := tomb.Roots[0]
	if root.Entity != "customer" || root.Table != "public.customer" || strings.Join(root.Identifiers, ",") != "email" ||
		strings.Join(root.Columns, ",") != "email" || root.BlindIndexes[0] != BlindIndex(blindKey, email) ||
		tomb.SubjectDigest != "sha256:erase-12" || tomb.Method != privacyv1alpha1.ErasureAnonymize || tomb.RequestName != "erase-12" {
		t.Fatalf("tombstone %+v", tomb)
	}
	if n := scalar[int64](t, erased, "SELECT count(*) FROM lethe.erasure_tombstones t WHERE strpos(lower(t::text), lower($1)) > 0", email); n != 0 {
		t.Fatal("the tombstone holds the e-mail")
	}
	if n := scalar[int64](t, erased, "SELECT count(*) FROM lethe.runs WHERE uid = 'erase-12' AND state = 'Completed'"); n != 1 {
		t.Fatal("the run is not completed")
	}

	// The backup holds the customer as it was, the e-mail in capitals.
	if _, err := restored.Exec(ctx, "UPDATE public.customer SET email = upper(email) WHERE customer_id = 12"); err != nil {
		t.Fatal(err)
	}
	invoices := scalar[int64](t, restored, "SELECT count(*) FROM public.invoice WHERE customer_id = 12 AND billing_address IS NOT NULL")
	if invoices == 0 {
		t.Fatal("customer 12 has no invoice with an address")
	}
	before := scalar[int64](t, restored, "SELECT count(*) FROM lethe.audit_log")
	again, err := ReapplyErasure(ctx, restored, &Reapply{Tombstone: *tomb, Key: blindKey, Actor: "lethe-operator",
		Object: audit.Object{Kind: "TenantDatabase", Namespace: "ns", Name: "acme", UID: "tdb-1"}, Tenant: "acme", Inventory: spec})
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string]int64{}
	for _, e := range again.Entities {
		changed[e.Entity] = e.Changed
	}
	if changed["customer"] != 1 || changed["invoice"] < invoices {
		t.Fatalf("re-applied: %+v; want the customer and its %d invoices changed", again.Entities, invoices)
	}
	if n := scalar[int64](t, restored, "SELECT count(*) FROM public.customer WHERE lower(email) = lower($1)", email); n != 0 {
		t.Fatal("the customer's e-mail is still there")
	}
	if n := scalar[int64](t, restored, "SELECT count(*) FROM public.invoice WHERE customer_id = 12 AND billing_address IS NOT NULL"); n != 0 {
		t.Fatalf("%d invoices keep their address", n)
	}
	back, err := ReadTombstones(ctx, restored)
	if err != nil || back["erase-12"] == nil || back["erase-12"].Roots[0].BlindIndexes[0] != root.BlindIndexes[0] {
		t.Fatalf("the tombstone was not written back: %v %v", back, err)
	}
	if n := scalar[int64](t, restored, `SELECT count(*) FROM lethe.audit_log WHERE id > $1 AND object_kind = 'TenantDatabase'
		AND subject_digest = 'sha256:erase-12' AND action IN ('Mask', 'ReapplyErasure')`, before); n < 3 {
		t.Fatalf("%d audit records of the re-application", n)
	}
	detail := scalar[string](t, restored, "SELECT detail FROM lethe.audit_log WHERE action = 'ReapplyErasure'")
	if !strings.Contains(detail, "request erase-12 (uid erase-12)") {
		t.Errorf("the re-application's record says %q", detail)
	}
	if remaining, err := Verify(ctx, restored, spec, map[string]string{"email": email}); err != nil || len(remaining) != 0 {
		t.Fatalf("after re-application: %v %v", remaining, err)
	}

	// Applied again, the run is completed: nothing changes twice, and a
	// tombstone deleted since is written again.
	if _, err := restored.Exec(ctx, "DELETE FROM lethe.erasure_tombstones"); err != nil {
		t.Fatal(err)
	}
	if _, err := ReapplyErasure(ctx, restored, &Reapply{Tombstone: *tomb, Key: blindKey, Actor: "lethe-operator", Inventory: spec}); err != nil {
		t.Fatal(err)
	}
	if n := scalar[int64](t, restored, "SELECT count(*) FROM lethe.audit_log WHERE action = 'ReapplyErasure'"); n != 1 {
		t.Fatalf("%d re-application records", n)
	}
	if n := scalar[int64](t, restored, "SELECT count(*) FROM lethe.erasure_tombstones WHERE request_uid = 'erase-12'"); n != 1 {
		t.Fatal("the completed run's tombstone was not written again")
	}
}
