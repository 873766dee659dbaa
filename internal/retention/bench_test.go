package retention

import (
	"testing"
	"time"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
	"github.com/lethe-dev/lethe/internal/testutil/sampledb"
)

// BenchmarkRootRule runs closedCustomers over a sample of 5000 customers,
// as the controller does (2 workers, batches of 1000), with scope Subject
// and with scope Row: roots/s are the customers changed a second, rows/s
// every row changed or deleted (the customers', and with scope Subject
// their other entities'). Each iteration loads a fresh sample, untimed.
func BenchmarkRootRule(b *testing.B) {
	for _, scope := range []privacyv1alpha1.RetentionScope{privacyv1alpha1.RetentionScopeSubject, privacyv1alpha1.RetentionScopeRow} {
		b.Run(string(scope), func(b *testing.B) {
			var roots, rows int64
			var took time.Duration
			for range b.N {
				b.StopTimer()
				pool, inv := sampledb.Open(b, sampleapp.Options{Tenant: "acme", Seed: 3, Customers: 5000})
				cat, err := tenantdb.ReadCatalog(ctx, pool)
				if err != nil {
					b.Fatal(err)
				}
				r := closedCustomers
				r.Scope = scope
				rule, err := Compile(r, inv, cat, nil)
				if err != nil {
					b.Fatal(err)
				}
				run := newRun("bench")
				run.BatchSize, run.Workers = 1000, 2
				b.StartTimer()
				began := time.Now()
				for {
					p, err := Step(ctx, pool, run, rule, time.Now().Add(time.Hour))
					if err != nil {
						b.Fatal(err)
					}
					if p.Done {
						roots += p.Changed
						rows += p.Changed
						for _, g := range p.Graph {
							rows += g.Changed
						}
						break
					}
				}
				took += time.Since(began)
			}
			b.ReportMetric(float64(roots)/took.Seconds(), "roots/s")
			b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
		})
	}
}
