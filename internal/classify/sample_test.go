package classify

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
	"github.com/lethe-dev/lethe/internal/testutil/testdb"
)

// openDB creates a database on the shared test server, runs sql in it as
// the application user, and returns a pool on it (closed when the test
// ends) and its catalog.
func openDB(t *testing.T, sql string) (*pgxpool.Pool, *tenantdb.Catalog) {
	t.Helper()
	ctx := context.Background()
	pool := testdb.Pool(t, pgtest.NewDatabase(t), 4)
	if _, err := pool.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	cat, err := tenantdb.ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	return pool, cat
}

// luhnDigit is the check digit that makes digits pass the Luhn check.
func luhnDigit(digits string) string {
	sum := 0
	for i := range len(digits) {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 0 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return strconv.Itoa((10 - sum%10) % 10)
}

// nirKey is the key of a French NIR's first 13 characters.
func nirKey(first13 string) string {
	n, _ := strconv.ParseInt(strings.NewReplacer("2A", "19", "2B", "18").Replace(first13), 10, 64)
	return fmt.Sprintf("%02d", 97-n%97)
}

// sqlText is a list of strings as a SQL array of text, for unnest.
func sqlText(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return "ARRAY[" + strings.Join(quoted, ", ") + "]::text[]"
}

func TestClassifyCountsPatternsInSampledValuesWithTheirCheckDigits(t *testing.T) {
	pnr := []string{"811218-987" + luhnDigit("811218987"), "19900101-123" + luhnDigit("900101123"),
		"051231123" + luhnDigit("051231123"), "460228+123" + luhnDigit("460228123")}
	badPnr := make([]string, len(pnr))
	for i, p := range pnr {
		badPnr[i] = p[:len(p)-1] + strconv.Itoa((int(p[len(p)-1]-'0')+1)%10)
	}
	nir := []string{"1850578006084" + nirKey("1850578006084"), "2690599350123" + nirKey("2690599350123"),
		"269052A123456" + nirKey("269052A123456")}
	columns := []struct {
		name   string
		values []string
		typ    string
		want   privacyv1alpha1.DataCategory // "" when no identifier, card or IBAN may be found
	}{
		{"f_a", pnr, "text", catIdentifier},
		{"f_b", badPnr, "text", ""},
		{"f_c", nir, "text", catIdentifier},
		{"f_d", []string{"185057800608400", "2690599350123 00"}, "text", ""},
		{"f_e", []string{"123-45-6789", "078-05-1120", "219-09-9999"}, "text", catIdentifier},
		{"f_f", []string{"000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567"}, "text", ""},
		{"f_g", []string{"4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005"}, "text", catFinancial},
		{"f_h", []string{"4111 1111 1111 1112", "5555-5555-5555-4445", "378282246310006"}, "text", ""},
		{"f_i", []string{"GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "FR1420041010050500013M02606"}, "text", catFinancial},
		{"f_j", []string{"GB00 WEST 1234 5698 7654 32", "DE00370400440532013000"}, "text", ""},
		{"f_k", []string{"anna@example.org", "Bo.Ek+x@mail.example.se"}, "text", catEmail},
		{"f_l", []string{"+46 70 123 45 67", "070-123 45 67", "(171) 555-2222", "030-0074321", "01.23.45.67.89"}, "text", catPhone},
		{"f_m", []string{"2024-01-02", "12.50", "10.0.0.1", "12345", "ABC-1234"}, "text", ""},
		{"f_n", []string{"192.0.2.1", "2001:db8::1", "fe80::1"}, "text", catIPAddress},
		{"f_o", []string{"999.1.1.1", "12:30:00", "::x"}, "text", ""},
		{"f_p", []string{`{"contact": "anna@example.org"}`, `{"to": ["bo@example.se"]}`}, "jsonb", catEmail},
		{"f_q", []string{`{"+46 70 123 45 67"}`, `{"+44 20 7946 0001","x"}`}, "text[]", catPhone},
		{"f_r", []string{"\\x89504e470d0a1a0a0000000d49484452", "\\xffd8ffe000104a464946"}, "bytea", catImage},
		{"f_s", []string{"\\x0001020304", "\\x7b7d"}, "bytea", catOther},
	}
	var ddl, sel []string
	for _, c := range columns {
		ddl = append(ddl, c.name+" "+c.typ)
		expr := fmt.Sprintf("(%s)[1 + i %% %d]", sqlText(c.values), len(c.values))
		if c.typ != "text" {
			expr += "::" + c.typ
		}
		sel = append(sel, expr)
	}
	pool, cat := openDB(t, fmt.Sprintf(`CREATE SCHEMA app;
CREATE TABLE app.records (id integer PRIMARY KEY, %s);
INSERT INTO app.records SELECT i, %s FROM generate_series(0, 29) AS i`, strings.Join(ddl, ", "), strings.Join(sel, ", ")))
	res, err := Classify(context.Background(), pool, cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Finding{}
	for _, f := range res.Findings {
		got[f.Column] = f
	}
	for _, c := range columns {
		f, ok := got[c.name]
		switch {
		case c.want == "" && ok && (f.Category == catIdentifier || f.Category == catFinancial):
			t.Errorf("%s %v: found as %s (%v), want no identifier or account", c.name, c.values, f.Category, f.Reasons)
		case c.want == "":
		case !ok:
			t.Errorf("%s %v: not found, want %s", c.name, c.values, c.want)
		case f.Category != c.want:
			t.Errorf("%s %v: found as %s (%v), want %s", c.name, c.values, f.Category, f.Reasons, c.want)
		case c.want != catOther && (f.Reasons[0].Kind != ReasonContent || f.Reasons[0].Ratio != 1):
			t.Errorf("%s: reasons %v, want every sampled value to match", c.name, f.Reasons)
		}
	}
	if f := got["f_k"]; !f.Identifier || f.Reasons[0].Detail != "content: 30/30 sampled values are e-mail addresses (100%)" {
		t.Errorf("f_k: %+v", f)
	}
}

func TestClassifySamplesALargeTableByBlocks(t *testing.T) {
	pool, cat := openDB(t, `CREATE SCHEMA app;
CREATE TABLE app.events (id bigint PRIMARY KEY, who text, what text);
INSERT INTO app.events SELECT i, 'person' || i || '@example.org', 'did thing ' || i FROM generate_series(1, 50000) AS i`)
	if rows := cat.Tables["app.events"].Rows; rows < 40000 {
		t.Fatalf("estimate %d rows after ANALYZE, want about 50000", rows)
	}
	res, err := Classify(context.Background(), pool, cat, Options{SampleRows: 50})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Tables[0].Sampled; s != 50 {
		t.Errorf("sampled %d rows, want 50", s)
	}
	if len(res.Findings) != 1 || res.Findings[0].Column != "who" ||
		res.Findings[0].Reasons[0].Detail != "content: 50/50 sampled values are e-mail addresses (100%)" {
		t.Errorf("findings %+v, want who as e-mail addresses from 50 sampled values", res.Findings)
	}
}

func TestClassifySamplesPartitionedTables(t *testing.T) {
	pool, _, _ := schemas.Open(t, schemas.Edge, schemas.Options{Members: 200})
	cat, err := tenantdb.ReadCatalog(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if rows := cat.Tables["edge.payments"].Rows; rows <= 4*20 {
		t.Fatalf("edge.payments estimate %d rows, want more than the block-sample threshold", rows)
	}
	res, err := Classify(context.Background(), pool, cat, Options{SampleRows: 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, tbl := range res.Tables {
		if tbl.Name == "edge.payments" && (tbl.Sampled != 20 || tbl.SampleError != "") {
			t.Errorf("edge.payments: sampled %d (%s), want 20", tbl.Sampled, tbl.SampleError)
		}
	}
}

func TestClassifyRefusesBadOptions(t *testing.T) {
	for _, opts := range []Options{{SampleRows: -1}, {SampleRows: MaxSampleRows + 1}, {StatementTimeout: -1}} {
		if _, err := Classify(context.Background(), nil, &tenantdb.Catalog{}, opts); err == nil {
			t.Errorf("Classify with %+v: no error", opts)
		}
	}
}
