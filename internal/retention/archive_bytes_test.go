package retention

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// pinnedArchive is the SHA-256 of the CSV TestArchiveBytesArePinned
// archives: what an archive's bytes are is a promise to whoever reads it,
// so a change of storage must leave them as they are.
const pinnedArchive = "df158af0803cc4ade003830998f3033377ecfad925455f1d7a07a72a8c1a8480"

// The CSV of an archive of the public Chinook schema's invoices, with
// values that need quoting (a comma, a quote, a line break, leading white
// space, a lone `\.`) and a NULL, is byte for byte what it always was, and
// its digest in the run's status is the SHA-256 of those bytes.
func TestArchiveBytesArePinned(t *testing.T) {
	pool, _, inv := schemas.Open(t, schemas.Chinook, schemas.Options{})
	if _, err := pool.Exec(ctx, `UPDATE public.invoice SET billing_address = CASE invoice_id % 5
			WHEN 0 THEN 'Rue de la Paix, 1' WHEN 1 THEN 'The "Old" Mill' WHEN 2 THEN E'line one\nline two'
			WHEN 3 THEN '  leading' ELSE '\.' END,
			billing_state = CASE WHEN invoice_id % 2 = 0 THEN NULL ELSE billing_state END
		WHERE customer_id IN (12, 13)`); err != nil {
		t.Fatal(err)
	}
	rule := compile(t, pool, inv, privacyv1alpha1.RetentionRule{Name: "old-invoices", Entity: "invoice",
		Age:        privacyv1alpha1.RetentionAge{Column: "invoice_date", OlderThan: "1d"},
		Conditions: []privacyv1alpha1.RetentionCondition{{Column: "customer_id", In: []string{"12", "13"}}},
		Action:     privacyv1alpha1.RetentionArchive, Archive: &privacyv1alpha1.ArchiveOptions{Then: privacyv1alpha1.ArchiveThenNone}})
	run := newRun("run-1")
	p := finish(t, pool, run, rule)
	if p.Changed < 8 {
		t.Fatalf("archived %d invoices; the test needs more than a batch", p.Changed)
	}
	doc, err := engine.ArchiveOf(ctx, pool, run.UID, "old-invoices")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(doc))
	if got := hex.EncodeToString(sum[:]); got != pinnedArchive {
		t.Fatalf("the archive's bytes changed: sha256 %s; want %s\n%s", got, pinnedArchive, doc)
	}
	if p.ArchiveSHA256 != pinnedArchive {
		t.Fatalf("the run's archive digest is %s; want %s", p.ArchiveSHA256, pinnedArchive)
	}
}
