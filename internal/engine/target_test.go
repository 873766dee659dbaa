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
// rows are compared with it, and a resumed run finds its rows by it).
// Every other key, with a text, enum or domain column, must still be built
// by json_build_array, and every key text must find its own row again.
func TestCompositeKeyTextIsWhatJSONBuildArrayPrints(t *testing.T) {
	ctx := context.Background()
	pool, _ := testdb.New(t, 1)
	if _, err := pool.Exec(ctx, `
		CREATE TABLE public.plain (
			n numeric(30,10), f float8, i bigint, s smallint, at timestamp(3) with time zone, ts timestamp, d date,
			tm time(0) without time zone, tz timetz, b boolean, ip inet, net cidr, u uuid,
			PRIMARY KEY (n, f, i, s, at, ts, d, tm, tz, b, ip, net, u));
		INSERT INTO public.plain VALUES
			(-12.50, 'NaN', -9223372036854775808, -32768, '2025-03-01 10:00:00.123456+00', '2025-03-01 10:00:00.5', '2024-02-29',
				'23:59:59', '23:59:59.5+05:30', true, '::1', '10.0.0.0/8', '00000000-0000-0000-0000-000000000000'),
			(1e-10, '-Infinity', 0, 0, 'infinity', '-infinity', '-infinity', '00:00', '00:00+00', false, '10.1.2.3/24',
				'2001:db8::/32', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
			(12345678901234567890, 1.5e300, 17, 32767, '1999-12-31 23:59:59-08', '0001-01-01 00:00:00 BC', '0001-01-01 BC',
				'12:00', '12:00-12', true, '2001:db8::ff00:42:8329', '192.168.0.0/16', 'ffffffff-ffff-ffff-ffff-ffffffffffff');

		CREATE TABLE public.texts (a text, i int, PRIMARY KEY (a, i));
		INSERT INTO public.texts VALUES
			('say "hi"', 1), (E'back\\slash', 2), (E'\\"', 3), ('"]', 4), ('", "', 5), ('', 6),
			(E'tab\tnew\nline\rcr', 7), (E'\x01\x08\x0c\x1f\x7f', 8), (E'\u2028\u2029 sep', 9),
			('é ß 中文 😀', 10), (E'\\u0041', 11), ('/ <script> &amp;', 12);

		CREATE TABLE public.mixed (u uuid, at timestamptz, d date, t text, PRIMARY KEY (u, at, d, t));
		INSERT INTO public.mixed VALUES
			('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2025-03-01 10:00:00+00', '2025-03-01', E'O''Brien "the \\ one"\n'),
			('00000000-0000-0000-0000-000000000000', '-infinity', '2024-02-29', E'\x1b[0m\u00e9'),
			('ffffffff-ffff-ffff-ffff-ffffffffffff', '2000-01-01 00:00:00.000001+14', 'infinity', 'plain');

		CREATE TYPE public.mood AS ENUM ('ok', 'say "no"', E'back\\slash');
		CREATE DOMAIN public.code AS integer CHECK (VALUE > 0);
		CREATE TABLE public.typed (m public.mood, c public.code, PRIMARY KEY (m, c));
		INSERT INTO public.typed VALUES ('ok', 1), ('say "no"', 2), (E'back\\slash', 3)`); err != nil {
		t.Fatal(err)
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		table string
		plain bool
		rows  int64
	}{{"public.plain", true, 3}, {"public.texts", false, 12}, {"public.mixed", false, 3}, {"public.typed", false, 3}} {
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
			t.Errorf("%s: key written by concatenation %v, want %v", c.table, plain, c.plain)
		}
		if n := count(t, pool, "SELECT count(*) FROM "+tg.Ident); n != c.rows {
			t.Fatalf("%s: %d rows, want %d", c.table, n, c.rows)
		}
		if n := count(t, pool, "SELECT count(*) FROM "+tg.Ident+" AS r WHERE "+tg.KeyText("r")+
			" IS DISTINCT FROM pg_catalog.json_build_array("+cols+")::text"); n != 0 {
			t.Errorf("%s: %d keys differ from json_build_array's text", c.table, n)
		}
		rows, err := pool.Query(ctx, "SELECT "+tg.KeyText("r")+" FROM "+tg.Ident+" AS r")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if n := count(t, pool, "SELECT count(*) FROM "+tg.Ident+" AS r WHERE "+tg.In("r", "$1"), []string{k}); n != 1 {
				t.Errorf("%s: key %q finds %d rows, want 1", c.table, k, n)
			}
			parts, err := tg.Split(k)
			if err != nil {
				t.Errorf("%s: key %q: %v", c.table, k, err)
			} else if len(parts) != len(tg.Key) {
				t.Errorf("%s: key %q splits into %d texts, want %d", c.table, k, len(parts), len(tg.Key))
			}
		}
	}
}

// A type is written by concatenation by its built-in name, type modifiers
// left out, and its category both: a type of the same name that is not
// the built-in one (another category) is not.
func TestPlainTextTypes(t *testing.T) {
	for _, c := range []struct {
		col  tenantdb.Column
		want bool
	}{
		{tenantdb.Column{Type: "numeric(10,2)", Category: 'N'}, true},
		{tenantdb.Column{Type: "timestamp(3) with time zone", Category: 'D'}, true},
		{tenantdb.Column{Type: "uuid", Category: 'U'}, true},
		{tenantdb.Column{Type: "uuid", Category: 'S'}, false},
		{tenantdb.Column{Type: "integer[]", Category: 'A'}, false},
		{tenantdb.Column{Type: "interval", Category: 'T'}, false},
		{tenantdb.Column{Type: "money", Category: 'N'}, false},
		{tenantdb.Column{Type: "text", Category: 'S'}, false},
		{tenantdb.Column{Type: "public.code", Category: 'N'}, false},
	} {
		if got := plainText(c.col); got != c.want {
			t.Errorf("%s (%c): written by concatenation %v, want %v", c.col.Type, c.col.Category, got, c.want)
		}
	}
}
