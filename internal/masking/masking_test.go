package masking

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixture is a fresh tenant database with a schema "app".
type fixture struct {
	t    testing.TB
	ctx  context.Context
	conn *pgx.Conn
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	conn, err := pgtest.Shared().AppConn(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	f := &fixture{t: t, ctx: ctx, conn: conn}
	f.exec("CREATE SCHEMA app; SET TimeZone = 'UTC'")
	return f
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.conn.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// table creates app.<name> (id bigint PRIMARY KEY, v <typ>) holding values
// as rows 1, 2, ... (nil is NULL) and returns the live column v.
func (f *fixture) table(name, typ string, values []any) Column {
	f.t.Helper()
	f.exec(fmt.Sprintf("CREATE TABLE app.%s (id bigint PRIMARY KEY, v %s)", name, typ))
	for i, v := range values {
		// The simple protocol sends untyped literals, which every type accepts.
		f.exec(fmt.Sprintf("INSERT INTO app.%s (id, v) VALUES ($1, $2)", name), pgx.QueryExecModeSimpleProtocol, i+1, v)
	}
	return f.column("app."+name, "v")
}

func (f *fixture) column(table, name string) Column {
	f.t.Helper()
	cat, err := tenantdb.ReadCatalog(f.ctx, f.conn)
	if err != nil {
		f.t.Fatal(err)
	}
	c, ok := cat.Tables[table].Column(name)
	if !ok {
		f.t.Fatalf("no column %s.%s", table, name)
	}
	return c
}

// mask runs UpdateSQL for the rows ids of a table keyed by id and returns
// how many rows it changed.
func (f *fixture) mask(table string, cols []Assignment, k Keys, ids []int64) (int64, error) {
	sql, args, err := UpdateSQL(table, cols, []string{"id"}, k)
	if err != nil {
		return 0, err
	}
	tag, err := f.conn.Exec(f.ctx, sql, args.With(ids)...)
	return tag.RowsAffected(), err
}

// values reads a column as text, in id order; NULL is nil.
func (f *fixture) values(table, col string) []any {
	f.t.Helper()
	return f.texts(fmt.Sprintf("SELECT %s::text FROM %s ORDER BY id", col, table))
}

// texts runs a query of one text column; NULL is nil.
func (f *fixture) texts(query string) []any {
	f.t.Helper()
	rows, err := f.conn.Query(f.ctx, query)
	if err != nil {
		f.t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (any, error) {
		var s *string
		if err := r.Scan(&s); err != nil || s == nil {
			return nil, err
		}
		return *s, nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

func hmacHex(key []byte, s string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(s))
	return hex.EncodeToString(mac.Sum(nil))
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

var runKeys = Keys{HashKey: []byte("a hash key"), Subject: "3f6c0a9e", Number: 7, Salt: []byte("a salt")}

func TestUpdateSQLShape(t *testing.T) {
	c := Column{Name: "name", Type: "text", Category: 'S', NotNull: true}
	sql, args, err := UpdateSQL("app.customers", []Assignment{{Column: c, Strategy: replaceWith("Anonymized")}}, []string{"id"}, Keys{})
	if err != nil {
		t.Fatal(err)
	}
	want := `UPDATE "app"."customers" AS lethe_row SET "name" = CASE WHEN lethe_row."name" IS NULL THEN NULL ELSE $1::text END WHERE lethe_row."id" = ANY($2)`
	if sql != want || !reflect.DeepEqual(args.Values(), []any{"Anonymized"}) {
		t.Fatalf("got  %s %v\nwant %s", sql, args.Values(), want)
	}
	if got := args.With([]int64{4, 2}); len(got) != 2 || len(args.Values()) != 1 {
		t.Fatalf("With: %v, values %v", got, args.Values())
	}
}

func TestHashMatchesCryptoHMAC(t *testing.T) {
	f := newFixture(t)
	inputs := []string{"", "alice@example.com", "Zoë Ångström", "日本語のテキスト", "emoji 🙂 and\ttab", strings.Repeat("long ", 40)}
	keys := [][]byte{[]byte("k"), []byte(strings.Repeat("6", 64)), []byte(strings.Repeat("long key ", 12)), {0, 1, 2, 255}}
	c := Column{Name: "v", Type: "text", Category: 'S'}
	for _, key := range keys {
		for _, in := range inputs {
			args := &Args{}
			e, err := Expr(hashed(), c, Keys{HashKey: key}, args)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			sql := fmt.Sprintf("SELECT %s FROM (SELECT %s::text AS v) AS s", e, args.Add(in))
			if err := f.conn.QueryRow(f.ctx, sql, args.Values()...).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if want := hmacHex(key, in); got != want {
				t.Errorf("key %q, input %q: SQL %s, crypto/hmac %s", key, in, got, want)
			}
		}
	}
}
