package masking

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// strategyCase masks rows ids of a table (id bigint PRIMARY KEY, v <typ>)
// holding values as rows 1, 2, ... and expects want, every row included: rows
// outside ids must keep their values.
type strategyCase struct {
	name   string
	typ    string
	values []any
	s      privacyv1alpha1.MaskingStrategy
	keys   *Keys // runKeys when nil
	ids    []int64
	want   []any
	// tz is the session time zone while masking (UTC when empty).
	tz string
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

func masked(ch string, n int) string { return strings.Repeat(ch, n) }

func fakeCases() []strategyCase {
	salt := runKeys.Salt
	in := []any{"Alice Smith", "Zoë Ångström", nil, "keep"}
	var cases []strategyCase
	for _, k := range []privacyv1alpha1.FakeKind{fakeName, fakeFirstName, fakeLastName, fakeEmail, fakePhone,
		fakeAddress, fakeCity, fakeCompany, fakeUserName} {
		cases = append(cases, strategyCase{name: "Fake " + string(k) + " on text", typ: "text", values: in, s: faked(k),
			ids: []int64{1, 2, 3}, want: []any{fake(k, "Alice Smith", salt), fake(k, "Zoë Ångström", salt), nil, "keep"}})
	}
	for _, l := range []privacyv1alpha1.FakeLocale{"en-GB", "en-US", "de-DE", "fr-FR", "es-ES"} {
		for _, k := range []privacyv1alpha1.FakeKind{fakeName, fakeEmail, fakePhone, fakeAddress, fakeCity, fakeUserName} {
			st := faked(k)
			st.Locale = &l
			want := func(input string) string {
				head, tail := fakeInLocale(k, locales[l], input, salt)
				return head + tail
			}
			cases = append(cases, strategyCase{name: "Fake " + string(k) + " in " + string(l), typ: "text", values: in, s: st,
				ids: []int64{1, 2, 3}, want: []any{want("Alice Smith"), want("Zoë Ångström"), nil, "keep"}})
		}
	}
	emails := []any{"alice@corp.example", "bob@corp.example", "keep@corp.example"}
	head1, tail := fakeInGo(fakeEmail, "alice@corp.example", salt)
	head2, _ := fakeInGo(fakeEmail, "bob@corp.example", salt)
	user2, _ := fakeInGo(fakeUserName, "bob", salt)
	return append(cases,
		strategyCase{name: "Fake is deterministic per input", typ: "text NOT NULL", values: []any{"same", "same", "other"},
			s: faked(fakeEmail), ids: []int64{1, 2}, want: []any{fake(fakeEmail, "same", salt), fake(fakeEmail, "same", salt), "other"}},
		strategyCase{name: "Fake depends on the salt", typ: "text", values: []any{"same", "same"}, s: faked(fakeName),
			keys: &Keys{Salt: []byte("another salt")}, ids: []int64{1}, want: []any{fake(fakeName, "same", []byte("another salt")), "same"}},
		strategyCase{name: "Fake without salt", typ: "text", values: []any{"same"}, s: faked(fakeCity),
			keys: &Keys{}, ids: []int64{1}, want: []any{fake(fakeCity, "same", nil)}},
		strategyCase{name: "Fake Email, unique, one free row: the fake itself", typ: "text NOT NULL UNIQUE", values: emails,
			s: faked(fakeEmail), ids: []int64{2}, want: []any{emails[0], head2 + tail, emails[2]}},
		strategyCase{name: "Fake Email, unique, several rows: key before the domain", typ: "text NOT NULL UNIQUE", values: emails,
			s: faked(fakeEmail), ids: []int64{1, 2}, want: []any{head1 + "_1" + tail, head2 + "_2" + tail, emails[2]}},
		strategyCase{name: "Fake Email, unique, value taken", typ: "varchar(80) UNIQUE",
			values: []any{"alice@corp.example", head1 + tail}, s: faked(fakeEmail), ids: []int64{1},
			want: []any{head1 + "_1" + tail, head1 + tail}},
		strategyCase{name: "Fake Email on varchar(26): local part cut, domain kept", typ: "varchar(26)", values: emails,
			s: faked(fakeEmail), ids: []int64{1, 2}, want: []any{cut(head1, 10) + tail, cut(head2, 10) + tail, emails[2]}},
		strategyCase{name: "Fake UserName, unique varchar(24), cut", typ: "varchar(24) NOT NULL UNIQUE", values: []any{"al", "bob"},
			s: faked(fakeUserName), ids: []int64{2}, want: []any{"al", cut(user2, 24)}},
		strategyCase{name: "Fake City on char(6)", typ: "char(6)", values: []any{"Paris", "Oslo"}, s: faked(fakeCity),
			ids: []int64{1}, want: []any{strings.TrimRight(cut(fake(fakeCity, "Paris", salt), 6), " "), "Oslo"}},
	)
}

func strategyCases() []strategyCase {
	key, subject := runKeys.HashKey, runKeys.Subject
	cases := []strategyCase{
		{name: "Nullify text", typ: "text", values: []any{"a", nil, "c"}, s: strategy(privacyv1alpha1.StrategyNullify),
			ids: []int64{1, 2}, want: []any{nil, nil, "c"}},
		{name: "Nullify a nullable unique column", typ: "text UNIQUE", values: []any{"a", "b", "c"},
			s: strategy(privacyv1alpha1.StrategyNullify), ids: []int64{1, 2}, want: []any{nil, nil, "c"}},
		{name: "Nullify a date", typ: "date", values: []any{"2020-01-02", "2021-03-04"},
			s: strategy(privacyv1alpha1.StrategyNullify), ids: []int64{2}, want: []any{"2020-01-02", nil}},

		{name: "Replace text NOT NULL", typ: "text NOT NULL", values: []any{"Ann", "Bob", "Cy"}, s: replaceWith("Anonymized"),
			ids: []int64{1, 2}, want: []any{"Anonymized", "Anonymized", "Cy"}},
		{name: "Replace keeps NULL", typ: "varchar(10)", values: []any{"Ann", nil, "Cy"}, s: replaceWith("Anonymized"),
			ids: []int64{1, 2}, want: []any{"Anonymized", nil, "Cy"}},
		{name: "Replace char(4)", typ: "char(4)", values: []any{"ab", "cd"}, s: replaceWith("x"),
			ids: []int64{1}, want: []any{"x", "cd"}},
		{name: "Replace integer", typ: "integer NOT NULL", values: []any{"42", "43", "44"}, s: replaceWith("0"),
			ids: []int64{2, 3}, want: []any{"42", "0", "0"}},
		{name: "Replace numeric", typ: "numeric(10,2)", values: []any{"12.34", nil, "5"}, s: replaceWith("1.5"),
			ids: []int64{1, 2}, want: []any{"1.50", nil, "5.00"}},

		{name: "Hash text, non-ASCII", typ: "text", values: []any{"alice@example.com", "Zoë Ångström", "x"}, s: hashed(),
			ids: []int64{1, 2}, want: []any{hmacHex(key, "alice@example.com"), hmacHex(key, "Zoë Ångström"), "x"}},
		{name: "Hash cut to varchar(12)", typ: "varchar(12)", values: []any{"alice", "bob", "cy"}, s: hashed(),
			ids: []int64{1, 2}, want: []any{hmacHex(key, "alice")[:12], hmacHex(key, "bob")[:12], "cy"}},
		{name: "Hash cut to char(20)", typ: "char(20)", values: []any{"ab"}, s: hashed(),
			ids: []int64{1}, want: []any{hmacHex(key, "ab")[:20]}},
		{name: "Hash a unique key, NULL kept", typ: "text UNIQUE", values: []any{nil, "b", "c"}, s: hashed(),
			ids: []int64{1, 2}, want: []any{nil, hmacHex(key, "b"), "c"}},

		{name: "Pseudonym text", typ: "text", values: []any{"Ann", nil, "Cy", "Di"}, s: pseudonym("L_{n}"),
			ids: []int64{1, 2, 4}, want: []any{"L_7", nil, "Cy", "L_7"}},
		{name: "Pseudonym unique, one free row: the pseudonym itself", typ: "text NOT NULL UNIQUE", values: []any{"E1", "E2", "E3"},
			s: pseudonym("EMP-{n}"), ids: []int64{2}, want: []any{"E1", "EMP-7", "E3"}},
		{name: "Pseudonym unique, several rows: key appended", typ: "text NOT NULL UNIQUE", values: []any{"E1", "E2", "E3"},
			s: pseudonym("EMP-{n}"), ids: []int64{1, 2}, want: []any{"EMP-7_1", "EMP-7_2", "E3"}},
		{name: "Pseudonym unique, taken by another row", typ: "text NOT NULL UNIQUE", values: []any{"E1", "E2", "EMP-7"},
			s: pseudonym("EMP-{n}"), ids: []int64{1}, want: []any{"EMP-7_1", "E2", "EMP-7"}},
		{name: "Pseudonym unique, masked again: unchanged", typ: "text NOT NULL UNIQUE", values: []any{"EMP-7", "E2"},
			s: pseudonym("EMP-{n}"), ids: []int64{1}, want: []any{"EMP-7", "E2"}},
		{name: "Pseudonym {hex:8} with a key", typ: "varchar(20)", values: []any{"ann", "bob"}, s: pseudonym("user-{hex:8}"),
			ids: []int64{1}, want: []any{"user-" + hmacHex(key, subject)[:8], "bob"}},
		{name: "Pseudonym {hex:8} without key", typ: "text", values: []any{"ann"}, s: pseudonym("user-{hex:8}"),
			keys: &Keys{Subject: subject}, ids: []int64{1}, want: []any{"user-" + sha256Hex(subject)[:8]}},
		{name: "Pseudonym unique varchar(24), key appended, pseudonym cut", typ: "varchar(24) UNIQUE", values: []any{"a", "b"},
			s: pseudonym("P{hex:22}"), ids: []int64{1, 2},
			want: []any{"P" + hmacHex(key, subject)[:21] + "_1", "P" + hmacHex(key, subject)[:21] + "_2"}},

		{name: "Partial keepSuffix", typ: "text", values: []any{"+4412345678", "12", nil, "keep"}, s: partial(0, 2),
			ids: []int64{1, 2, 3}, want: []any{masked("*", 9) + "78", "**", nil, "keep"}},
		{name: "Partial prefix and suffix, short values fully masked", typ: "text NOT NULL", values: []any{"abcdefgh", "abcd", "abc", "keep"},
			s: partial(2, 2), ids: []int64{1, 2, 3}, want: []any{"ab****gh", "****", "***", "keep"}},
		{name: "Partial maskChar, non-ASCII", typ: "varchar(12)", values: []any{"Zoë Ångström", "x"},
			s:   privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyPartial, KeepPrefix: ptr.To(int32(1)), MaskChar: ptr.To("•")},
			ids: []int64{1}, want: []any{"Z" + masked("•", 11), "x"}},
		{name: "Partial char(8)", typ: "char(8)", values: []any{"abcdef"}, s: partial(0, 1),
			ids: []int64{1}, want: []any{"*****f"}},

		{name: "Generalize date to month", typ: "date", values: []any{"2024-05-17", nil, "2023-12-31"}, s: byPrecision("Month"),
			ids: []int64{1, 2}, want: []any{"2024-05-01", nil, "2023-12-31"}},
		{name: "Generalize date to year", typ: "date NOT NULL", values: []any{"2024-05-17", "1990-02-03", "2023-12-31"},
			s: byPrecision("Year"), ids: []int64{1, 2}, want: []any{"2024-01-01", "1990-01-01", "2023-12-31"}},
		{name: "Generalize timestamp to month", typ: "timestamp", values: []any{"2024-05-17 13:45:10.5", "2024-05-17 13:45:10"},
			s: byPrecision("Month"), ids: []int64{1}, want: []any{"2024-05-01 00:00:00", "2024-05-17 13:45:10"}},
		{name: "Generalize timestamptz to month in UTC, whatever the session's zone", typ: "timestamptz",
			values: []any{"2024-05-31 23:30:00+00", "2024-06-01 00:30:00+02", "2024-01-01 00:00:00+00"}, s: byPrecision("Month"), tz: "Europe/Berlin",
			ids: []int64{1, 2}, want: []any{"2024-05-01 00:00:00+00", "2024-05-01 00:00:00+00", "2024-01-01 00:00:00+00"}},
		{name: "Generalize timestamptz to year", typ: "timestamptz NOT NULL", values: []any{"2024-05-31 23:30:00+00"},
			s: byPrecision("Year"), ids: []int64{1}, want: []any{"2024-01-01 00:00:00+00"}},
		{name: "Generalize integer to a bucket, negatives down", typ: "integer", values: []any{"37", "-7", nil, "55"},
			s: byBucket(10), ids: []int64{1, 2, 3}, want: []any{"30", "-10", nil, "55"}},
		{name: "Generalize bigint", typ: "bigint NOT NULL", values: []any{"123456", "999", "5"}, s: byBucket(1000),
			ids: []int64{1, 2}, want: []any{"123000", "0", "5"}},
		{name: "Generalize numeric", typ: "numeric(10,2)", values: []any{"12.34", "-0.01", "7"}, s: byBucket(5),
			ids: []int64{1, 2}, want: []any{"10.00", "-5.00", "7.00"}},

		{name: "Clear text", typ: "text", values: []any{"notes", nil, "keep"}, s: strategy(privacyv1alpha1.StrategyClear),
			ids: []int64{1, 2}, want: []any{"", nil, "keep"}},
		{name: "Clear NOT NULL", typ: "text NOT NULL", values: []any{"a", "b"}, s: strategy(privacyv1alpha1.StrategyClear),
			ids: []int64{1}, want: []any{"", "b"}},
		{name: "Clear a nullable unique column: NULL", typ: "varchar(20) UNIQUE", values: []any{"a", "b", "c"},
			s: strategy(privacyv1alpha1.StrategyClear), ids: []int64{1, 2}, want: []any{nil, nil, "c"}},
		{name: "Clear char(5)", typ: "char(5) NOT NULL", values: []any{"abc", "de"}, s: strategy(privacyv1alpha1.StrategyClear),
			ids: []int64{2}, want: []any{"abc", ""}},
	}
	return append(cases, fakeCases()...)
}

func TestStrategiesOnEveryType(t *testing.T) {
	f := newFixture(t)
	for i, tt := range strategyCases() {
		t.Run(tt.name, func(t *testing.T) {
			f.t = t
			table := fmt.Sprintf("t%02d", i)
			c := f.table(table, tt.typ, tt.values)
			k := runKeys
			if tt.keys != nil {
				k = *tt.keys
			}
			if tt.tz != "" {
				f.exec("SET TimeZone = '" + tt.tz + "'")
			}
			n, err := f.mask("app."+table, []Assignment{{Column: c, Strategy: tt.s}}, k, tt.ids)
			f.exec("SET TimeZone = 'UTC'")
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(tt.ids)) {
				t.Errorf("%d rows changed, want %d", n, len(tt.ids))
			}
			if got := f.values("app."+table, "v"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
