package masking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// A customer is masked the way the sample inventory says, in one statement,
// and only the customer's row changes.
func TestUpdateMasksSeveralColumnsOfExactlyTheGivenRows(t *testing.T) {
	f := newFixture(t)
	f.exec(`CREATE TABLE app.customers (id bigint PRIMARY KEY, customer_number text NOT NULL UNIQUE, name text NOT NULL,
			email text NOT NULL, phone text, born date, note text);
		INSERT INTO app.customers VALUES
			(1, 'C-1', 'Ann Lee', 'ann@corp.example', '+4470000001', '1980-06-15', 'likes tea'),
			(2, 'C-2', 'Bo Chan', 'bo@corp.example', NULL, NULL, NULL),
			(3, 'C-3', 'Cy Diaz', 'cy@corp.example', '+4470000003', '1975-01-02', 'vip')`)
	c := func(name string) Column { return f.column("app.customers", name) }
	cols := []Assignment{
		{Column: c("customer_number"), Strategy: pseudonym("ANON-{n}")},
		{Column: c("name"), Strategy: replaceWith("Anonymized")},
		{Column: c("email"), Strategy: faked(fakeEmail)},
		{Column: c("phone"), Strategy: partial(0, 2)},
		{Column: c("born"), Strategy: byPrecision("Year")},
		{Column: c("note"), Strategy: strategy(privacyv1alpha1.StrategyClear)},
	}
	for _, ids := range [][]int64{{2}, {1}} {
		k := runKeys
		k.Number = ids[0] * 10
		if n, err := f.mask("app.customers", cols, k, ids); err != nil || n != 1 {
			t.Fatalf("mask %v: %d rows, %v", ids, n, err)
		}
	}
	// The key set may name rows that do not exist: they are not counted.
	if n, err := f.mask("app.customers", cols, runKeys, []int64{99}); err != nil || n != 0 {
		t.Fatalf("mask a missing row: %d rows, %v", n, err)
	}
	rows, err := f.conn.Query(f.ctx, `SELECT customer_number, name, email, phone, born::text, note FROM app.customers ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	want := [][]any{
		{"ANON-10", "Anonymized", fake(fakeEmail, "ann@corp.example", runKeys.Salt), "*********01", "1980-01-01", ""},
		{"ANON-20", "Anonymized", fake(fakeEmail, "bo@corp.example", runKeys.Salt), nil, nil, nil},
		{"C-3", "Cy Diaz", "cy@corp.example", "+4470000003", "1975-01-02", "vip"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestUpdateWithACompositeKeyMatchesTuples(t *testing.T) {
	f := newFixture(t)
	f.exec(`CREATE TABLE app.visits (site int, visitor text, name text, PRIMARY KEY (site, visitor), UNIQUE (name));
		INSERT INTO app.visits VALUES (1, 'x', 'a'), (1, 'y', 'b'), (2, 'x', 'c'), (2, 'y', 'd')`)
	cols := []Assignment{{Column: f.column("app.visits", "name"), Strategy: pseudonym("v{n}")}}
	sql, args, err := UpdateSQL("app.visits", cols, []string{"site", "visitor"}, runKeys)
	if err != nil {
		t.Fatal(err)
	}
	// (1, y) and (2, x): neither (1, x) nor (2, y), though each part is in a key array.
	tag, err := f.conn.Exec(f.ctx, sql, args.With([]int32{1, 2}, []string{"y", "x"})...)
	if err != nil || tag.RowsAffected() != 2 {
		t.Fatalf("%s: %v %v", sql, tag, err)
	}
	if got, want := f.texts("SELECT name FROM app.visits ORDER BY site, visitor"), []any{"a", "v7_1_y", "v7_2_x", "d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDeleteSQL(t *testing.T) {
	f := newFixture(t)
	f.exec(`CREATE TABLE app.notes (id bigint PRIMARY KEY); INSERT INTO app.notes SELECT generate_series(1, 5)`)
	sql, err := DeleteSQL("app.notes", []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `DELETE FROM "app"."notes" AS lethe_row WHERE lethe_row."id" = ANY($1)`; sql != want {
		t.Errorf("got  %s\nwant %s", sql, want)
	}
	// Keys may come as text: PostgreSQL parses them as the key's type.
	if tag, err := f.conn.Exec(f.ctx, sql, []string{"2", "4", "9"}); err != nil || tag.RowsAffected() != 2 {
		t.Fatalf("%v %v", tag, err)
	}
	if got := f.values("app.notes", "id"); !reflect.DeepEqual(got, []any{"1", "3", "5"}) {
		t.Errorf("left %q", got)
	}
}

func TestStatementsRefuseWhatCannotWork(t *testing.T) {
	text := Column{Name: "v", Type: "text", Category: 'S'}
	unique := Column{Name: "v", Type: "text", Category: 'S', NotNull: true, Unique: true}
	expr := func(s privacyv1alpha1.MaskingStrategy, c Column, k Keys) error {
		_, err := Expr(s, c, k, &Args{})
		return err
	}
	update := func(table string, cols []Assignment, pk ...string) error {
		_, _, err := UpdateSQL(table, cols, pk, runKeys)
		return err
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"what Check refuses", expr(strategy(privacyv1alpha1.StrategyNullify), unique, runKeys),
			"column v (text) cannot take strategy Nullify: the column is NOT NULL; use Pseudonym, Hash or Fake"},
		{"Hash without a key", expr(hashed(), text, Keys{}), "column v: Hash needs the HMAC key of its keySecretRef, and the run has none"},
		{"{n} without a number", expr(pseudonym("L_{n}"), text, Keys{Subject: "s"}),
			"column v: pseudonym {n} needs the subject's number (Keys.Number, at least 1)"},
		{"{hex:N} without a subject", expr(pseudonym("u{hex:4}"), text, Keys{Number: 1}),
			"column v: pseudonym {hex:N} needs the subject's token (Keys.Subject)"},
		{"a pseudonym too long for the column", expr(pseudonym("L{n}"), Column{Name: "v", Type: "character varying(3)", Category: 'S'},
			Keys{Number: 1234}), "column v: the pseudonym has 5 characters and the column holds at most 3"},
		{"Expr on a unique column that needs the key", expr(faked(fakeEmail), unique, runKeys),
			"column v is unique: its masked values need the row's primary key to stay distinct; build the statement with UpdateSQL"},
		{"a table without schema", update("customers", []Assignment{{Column: text, Strategy: hashed()}}, "id"),
			`table "customers" is not schema.table (quote a part that holds a dot, capitals or spaces: public."Order Items")`},
		{"no primary key", update("app.t", []Assignment{{Column: text, Strategy: hashed()}}),
			"table app.t: a primary key has 1 to 4 columns, not 0"},
		{"no columns", update("app.t", nil, "id"), "table app.t: no columns to mask"},
		{"a column twice", update("app.t", []Assignment{{Column: text, Strategy: hashed()}, {Column: text, Strategy: hashed()}}, "id"),
			"table app.t: column v is listed twice"},
		{"a primary-key column", update("app.t", []Assignment{{Column: text, Strategy: hashed()}}, "v"),
			"table app.t: column v is part of the primary key, which is never masked (other rows refer to it)"},
		{"a strategy that does not fit", update("app.t", []Assignment{{Column: text, Strategy: byBucket(3)}}, "id"),
			"table app.t: column v (text) cannot take strategy Generalize: bucket needs a numeric column; use Nullify, Clear or Replace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil || tt.err.Error() != tt.want {
				t.Fatalf("got  %v\nwant %s", tt.err, tt.want)
			}
		})
	}
}

// A column's own key (Assignment.HashKey) wins over the run's.
func TestAssignmentHashKeyOverridesTheRunKey(t *testing.T) {
	f := newFixture(t)
	c := f.table("h", "text", []any{"a", "b"})
	own := []byte("the column's own key")
	if _, err := f.mask("app.h", []Assignment{{Column: c, Strategy: hashed(), HashKey: own}}, runKeys, []int64{1, 2}); err != nil {
		t.Fatal(err)
	}
	got := f.values("app.h", "v")
	if want := []any{hmacHex(own, "a"), hmacHex(own, "b")}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if strings.Contains(got[0].(string), hmacHex(runKeys.HashKey, "a")) {
		t.Error("the run's key was used")
	}
}

func TestKeyedPseudonymIsWhatTheStatementWrites(t *testing.T) {
	key := []byte("a key of sixteen bytes or more")
	got, err := KeyedPseudonym("F_{n}-{hex:4}", key, "E10002")
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("E10002"))
	sum := hex.EncodeToString(mac.Sum(nil))
	n, _ := strconv.ParseInt(sum[:12], 16, 64)
	if want := fmt.Sprintf("F_%d-%s", n, sum[:4]); got != want {
		t.Fatalf("got %q; want %q", got, want)
	}
	if _, err := KeyedPseudonym("no placeholder", key, "E10002"); err == nil {
		t.Fatal("a format without a placeholder was accepted")
	}
}
