package engine

import (
	"context"
	"testing"

	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/testdb"
)

// A composite key's text is written by concatenation when no column's text
// needs escaping in JSON: it must be the very text json_build_array prints
// (keys recorded by earlier versions, restricted rows and pseudonymized
// rows are compared with it), and a key with a text column must still be
// escaped.
func TestCompositeKeyTextIsWhatJSONBuildArrayPrints(t *testing.T) {
	ctx := context.Background()
	pool, _ := testdb.New(t, 1)
	if _, err := pool.Exec(ctx, `CREATE TABLE public.plain (
			n numeric, f float8, i bigint, at timestamptz, d date, tm timetz, b boolean, ip inet, u uuid,
			PRIMARY KEY (n, f, i, at, d, tm, b, ip, u));
		INSERT INTO public.plain VALUES
			(-12.50, 'NaN', -9223372036854775808, '2025-03-01 10:00:00.123456+00', '2024-02-29', '23:59:59.5+05:30', true, '::1', '00000000-0000-0000-0000-000000000000'),
			('NaN', '-Infinity', 0, 'infinity', '-infinity', '00:00+00', false, '10.1.2.0/24', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
			(1e-20, 1.5e300, 17, '1999-12-31 23:59:59-08', '0001-01-01 BC', '12:00-12', true, '2001:db8::ff00:42:8329', 'ffffffff-ffff-ffff-ffff-ffffffffffff');
		CREATE TABLE public.texts (a text, i int, PRIMARY KEY (a, i));
		INSERT INTO public.texts VALUES ('say "hi"\ and tab	', 1), (E'line\nbreak', 2)`); err != nil {
		t.Fatal(err)
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		table string
		plain bool
	}{{"public.plain", true}, {"public.texts", false}} {
		tg, err := NewTarget(cat.Tables[c.table], nil)
		if err != nil {
			t.Fatal(err)
		}
		plain := true
		cols := ""
		for i, k := range tg.Key {
			plain = plain && k.Plain
			if i > 0 {
				cols += ", "
			}
			cols += "r." + k.Ident + "::text"
		}
		if plain != c.plain {
			t.Fatalf("%s: key written plainly %v, want %v", c.table, plain, c.plain)
		}
		if n := count(t, pool, "SELECT count(*) FROM "+tg.Ident+" AS r WHERE "+tg.KeyText("r")+" IS DISTINCT FROM pg_catalog.json_build_array("+cols+")::text"); n != 0 {
			t.Fatalf("%s: %d keys differ from json_build_array's text", c.table, n)
		}
		if n := count(t, pool, "SELECT count(*) FROM "+tg.Ident); n < 2 {
			t.Fatalf("%s: %d rows", c.table, n)
		}
	}
}
