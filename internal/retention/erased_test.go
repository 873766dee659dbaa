package retention

import (
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/dsr"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

// A customer an erasure request anonymized is done for a retention rule that
// would anonymize it: the rule leaves every value the erasure wrote as it is
// (no pseudonym of a pseudonym), and changes every other eligible row.
func TestARowAnErasureMaskedIsDoneForARetentionRule(t *testing.T) {
	pool, inv := sample(t)
	eligible := count(t, pool, eligibleCustomers, sampleapp.ReferenceTime())
	var id int64
	var email string
	if err := pool.QueryRow(ctx, `SELECT id, email FROM app.customers WHERE status = 'closed' AND closed_at < $1::timestamptz - interval '90 days'
		ORDER BY id LIMIT 1`, sampleapp.ReferenceTime()).Scan(&id, &email); err != nil {
		t.Fatal(err)
	}
	in := &dsr.Input{
		Run: engine.Run{UID: "req-1", Type: "Erasure", SubjectType: "customer", SubjectDigest: "sha256:test", Actor: "tester",
			Object: audit.Object{Kind: "DataSubjectRequest", Namespace: "ns", Name: "r", UID: "req-1"},
			Clock:  sampleapp.ReferenceTime},
		Type: privacyv1alpha1.RequestErasure, Tenant: "acme", Inventory: inv, Salt: []byte("salt"),
		Identifiers: map[string]string{"email": email}, Method: privacyv1alpha1.ErasureAnonymize,
		Engine: engine.Options{BatchSize: 4},
	}
	if _, err := dsr.Execute(ctx, pool, in); err != nil {
		t.Fatalf("erasure: %v", err)
	}
	const row = "SELECT c::text FROM app.customers c WHERE id = $1"
	var erased string
	if err := pool.QueryRow(ctx, row, id).Scan(&erased); err != nil {
		t.Fatal(err)
	}

	p := finish(t, pool, newRun("run-1"), compile(t, pool, inv, closedCustomers))
	if p.Changed != eligible-1 {
		t.Errorf("the rule changed %d customers; want %d (every eligible one but the erased)", p.Changed, eligible-1)
	}
	var after string
	if err := pool.QueryRow(ctx, row, id).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != erased {
		t.Errorf("the rule changed the row the erasure had masked")
	}
	if n := count(t, pool, "SELECT count(*) FROM lethe.audit_log WHERE action = 'Anonymize' AND rows_affected > 0"); n == 0 {
		t.Error("the rule's changes are not audited")
	}
}
