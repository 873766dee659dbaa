package dsr

import (
	"context"
	"slices"
	"strings"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// After an erasure, verification finds the identifiers wherever they are
// left: in another case, a phone number with other spacing, inside a jsonb
// document and a text array, in a table the inventory leaves out that
// references one it maps, and in a retention archive.
func TestVerifyFindsTheIdentifiersInEveryForm(t *testing.T) {
	pool, spec := sample(t)
	ctx := context.Background()
	id := scalar[int64](t, pool, "SELECT customer_id FROM app.cases GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
	email := scalar[string](t, pool, "SELECT email FROM app.customers WHERE id = $1", id)
	const phone = "+46 70 123 45 67"
	ids := map[string]string{"email": email}
	in := erasure(pool, spec, email)
	if _, err := Execute(ctx, pool, in); err != nil {
		t.Fatal(err)
	}
	ids["phone"] = phone
	remaining, err := Verify(ctx, pool, spec, ids)
	if err != nil || len(remaining) != 0 {
		t.Fatalf("after erasure: %v %v", remaining, err)
	}

	upper := strings.ToUpper(email)
	for _, sql := range []string{
		"UPDATE app.cases SET subject = $1 WHERE id = (SELECT min(id) FROM app.cases)",
		"UPDATE app.contact_persons SET phone = '+46 (70) 123-4567' WHERE id = (SELECT min(id) FROM app.contact_persons)",
		"ALTER TABLE app.cases ADD COLUMN meta jsonb, ADD COLUMN tags text[]",
		`UPDATE app.cases SET meta = jsonb_build_object('from', jsonb_build_object('to', jsonb_build_array(1, $1::text))),
			tags = ARRAY['x', $1::text] WHERE id = (SELECT max(id) FROM app.cases)`,
		"CREATE TABLE app.notes (id int PRIMARY KEY, customer_id bigint REFERENCES app.customers (id), body text)",
		"INSERT INTO app.notes VALUES (1, (SELECT min(id) FROM app.customers), $1)",
		"INSERT INTO lethe.retention_archives (run_id, rule, batch, rows, csv) VALUES ('run', 'rule', 1, 1, 'id,email\n1,' || $1::text || '\n')",
	} {
		args := []any{}
		if strings.Contains(sql, "$1") {
			args = append(args, upper)
		}
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	remaining, err = Verify(ctx, pool, spec, ids)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"app.cases.meta", "app.cases.subject", "app.cases.tags", "app.contact_persons.phone", "app.notes.body", ArchiveName("run", "rule")}
	if !slices.Equal(remaining, want) {
		t.Errorf("verification names %v; want %v", remaining, want)
	}
}

// On the public Chinook schema, after an erasure by Anonymize, verification
// finds the e-mail written in capitals in an invoice's billing address and
// the customer's phone with other spacing in a table the inventory leaves
// out that references the customer.
func TestVerifyFindsTheIdentifiersOnChinook(t *testing.T) {
	pool, _, spec := schemas.Open(t, schemas.Chinook, schemas.Options{})
	ctx := context.Background()
	email := scalar[string](t, pool, "SELECT email FROM public.customer WHERE customer_id = 12")
	phone := scalar[string](t, pool, "SELECT phone FROM public.customer WHERE customer_id = 12")
	in := request("erase-1", privacyv1alpha1.RequestErasure, spec, "customer", map[string]string{"email": email})
	in.Method = privacyv1alpha1.ErasureAnonymize
	if _, err := Execute(ctx, pool, in); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{"email": email, "phone": phone}
	if remaining, err := Verify(ctx, pool, spec, ids); err != nil || len(remaining) != 0 {
		t.Fatalf("after erasure: %v %v", remaining, err)
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, phone)
	for _, st := range []struct {
		sql  string
		args []any
	}{
		{"UPDATE public.invoice SET billing_address = upper($1::text) WHERE invoice_id = (SELECT min(invoice_id) FROM public.invoice WHERE customer_id <> 12)",
			[]any{email}},
		{"CREATE TABLE public.call_log (id int PRIMARY KEY, customer_id int REFERENCES public.customer (customer_id), dialled text)", nil},
		{"INSERT INTO public.call_log VALUES (1, 1, $1::text)", []any{"+" + digits[:2] + " " + digits[2:]}},
	} {
		if _, err := pool.Exec(ctx, st.sql, st.args...); err != nil {
			t.Fatalf("%s: %v", st.sql, err)
		}
	}
	remaining, err := Verify(ctx, pool, spec, ids)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"public.call_log.dialled", "public.invoice.billing_address"}; !slices.Equal(remaining, want) {
		t.Errorf("verification names %v; want %v", remaining, want)
	}
}
