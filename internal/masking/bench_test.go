package masking

import (
	"fmt"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// benchTable creates app.people with rows rows shaped like the sample
// application's customers and returns the assignments that mask a customer.
func benchTable(b testing.TB, rows int) (*fixture, []Assignment) {
	f := newFixture(b)
	f.exec(`CREATE TABLE app.people (id bigint PRIMARY KEY, customer_number text NOT NULL UNIQUE, name text NOT NULL,
		email text NOT NULL, phone text, born date)`)
	f.exec(`INSERT INTO app.people SELECT i, 'C' || i, 'Name ' || i, 'person' || i || '@corp.example', '+3312345' || i,
		date '1970-01-01' + i % 10000 FROM generate_series(1, $1::int) AS i`, rows)
	f.exec("ANALYZE app.people")
	cols := func(name string) Column { return f.column("app.people", name) }
	return f, []Assignment{
		{Column: cols("customer_number"), Strategy: pseudonym("ANON-{n}")},
		{Column: cols("name"), Strategy: replaceWith("Anonymized")},
		{Column: cols("email"), Strategy: faked(fakeEmail)},
		{Column: cols("phone"), Strategy: partial(0, 2)},
		{Column: cols("born"), Strategy: byPrecision("Year")},
	}
}

// BenchmarkUpdateOneSubject masks one row of five personal columns (a
// pseudonym and a fake e-mail on unique columns) in a table of 100,000.
func BenchmarkUpdateOneSubject(b *testing.B) {
	f, cols := benchTable(b, 100_000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := runKeys
		k.Number = int64(i + 1)
		if _, err := f.mask("app.people", cols, k, []int64{int64(i%100_000 + 1)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateManyRows masks 10,000 rows in one statement (a retention
// run), per row.
func BenchmarkUpdateManyRows(b *testing.B) {
	f, cols := benchTable(b, 10_000)
	ids := make([]int64, 10_000)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	cols = append(cols[1:], Assignment{Column: f.column("app.people", "customer_number"),
		Strategy: privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyHash, KeySecretRef: hashed().KeySecretRef}})
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.mask("app.people", cols, runKeys, ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ids)), "ns/row")
}

// BenchmarkUpdateSQL builds the statement of BenchmarkUpdateOneSubject.
func BenchmarkUpdateSQL(b *testing.B) {
	_, cols := benchTable(b, 1)
	for b.Loop() {
		if _, _, err := UpdateSQL("app.people", cols, []string{"id"}, runKeys); err != nil {
			b.Fatal(fmt.Sprint(err))
		}
	}
}
