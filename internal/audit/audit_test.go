package audit

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/testdb"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// setup returns a migrated database and a pool on it as the operator's role.
func setup(t *testing.T) (pgtest.Database, *pgxpool.Pool) {
	t.Helper()
	pool, db := testdb.New(t, 2)
	return db, pool
}

func record(action string, rows int64) Record {
	return Record{
		Time:   time.Date(2026, 11, 1, 12, 0, 0, 123456789, time.UTC),
		Actor:  "system:serviceaccount:lethe:lethe",
		Object: Object{Kind: "DataSubjectRequest", Namespace: "acme", Name: "dsr-1", UID: "uid-1"},
		Action: action, Entity: "customer", Rows: rows, SubjectDigest: "sha256:abc",
	}
}

func appendAll(t *testing.T, pool *pgxpool.Pool, recs ...Record) []Entry {
	t.Helper()
	var out []Entry
	err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		for _, r := range recs {
			e, err := Append(context.Background(), tx, r)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func verify(t *testing.T, pool *pgxpool.Pool, expect Head) Result {
	t.Helper()
	res, err := Verify(context.Background(), pool, expect)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAppendChainsRecordsAndVerifyAcceptsThem(t *testing.T) {
	_, pool := setup(t)
	entries := appendAll(t, pool, record("Erase", 3), record("Erase", 0), record("Export", 12))
	if string(entries[1].PrevHash) != string(entries[0].Hash) || string(entries[2].PrevHash) != string(entries[1].Hash) {
		t.Fatal("records are not chained")
	}
	res := verify(t, pool, Head{})
	if !res.Intact || res.Records != 3 || res.Head.ID != entries[2].ID {
		t.Fatalf("verify: %+v", res)
	}
	if again := verify(t, pool, res.Head); !again.Intact {
		t.Fatalf("verify with the head seen before: %+v", again)
	}
}

func TestARolledBackChangeLeavesNoRecord(t *testing.T) {
	_, pool := setup(t)
	ctx := context.Background()
	boom := errors.New("the change failed")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := Append(ctx, tx, record("Erase", 1)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if res := verify(t, pool, Head{}); res.Records != 0 {
		t.Fatalf("records after rollback: %d", res.Records)
	}
}

func TestTheDatabaseRefusesChangesToTheLog(t *testing.T) {
	_, pool := setup(t)
	appendAll(t, pool, record("Erase", 1))
	for _, sql := range []string{
		"UPDATE lethe.audit_log SET rows_affected = 0",
		"DELETE FROM lethe.audit_log",
		"TRUNCATE lethe.audit_log",
	} {
		_, err := pool.Exec(context.Background(), sql)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want a refusal", sql, err)
		}
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name    string
		sql     string
		problem string
		// behind: the chain is whole, but shorter than was seen, or another
		// chain since the head seen (a restored backup, then new records).
		behind bool
		then   []Record
	}{
		{name: "changed content", sql: "UPDATE lethe.audit_log SET rows_affected = 99 WHERE id = 2", problem: "record 2 does not match its hash"},
		{name: "changed detail", sql: "UPDATE lethe.audit_log SET detail = 'granted' WHERE id = 1", problem: "record 1 does not match its hash"},
		{name: "removed record", sql: "DELETE FROM lethe.audit_log WHERE id = 2", problem: "record 3 does not link to the record before it"},
		{name: "rewritten chain link", sql: "UPDATE lethe.audit_log SET prev_hash = '\\x00' WHERE id = 3", problem: "record 3 does not link"},
		{name: "removed tail", sql: "DELETE FROM lethe.audit_log WHERE id = 3", problem: "record 3, seen before, is gone", behind: true},
		{name: "restored, then appended to", sql: "DELETE FROM lethe.audit_log WHERE id = 3; ALTER TABLE lethe.audit_log ALTER COLUMN id RESTART WITH 3",
			then: []Record{record("Erase", 7)}, problem: "record 3 is not the one seen before", behind: true},
		{name: "restored, then changed", sql: "DELETE FROM lethe.audit_log WHERE id = 3; UPDATE lethe.audit_log SET rows_affected = 9 WHERE id = 1",
			problem: "record 1 does not match its hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, pool := setup(t)
			appendAll(t, pool, record("Erase", 1), record("Erase", 2), record("Export", 3))
			head := verify(t, pool, Head{}).Head
			// A superuser can switch the triggers off; the chain still tells.
			if err := pgtest.Shared().Exec(context.Background(), db.Name,
				"SET session_replication_role = replica; "+tt.sql); err != nil {
				t.Fatal(err)
			}
			if len(tt.then) > 0 {
				appendAll(t, pool, tt.then...)
			}
			res := verify(t, pool, head)
			if res.Intact || !strings.Contains(res.Problem, tt.problem) || res.Behind != tt.behind {
				t.Fatalf("got %+v, want problem %q, behind %t", res, tt.problem, tt.behind)
			}
		})
	}
}

func TestTheDatabaseHashesRecordsAsVerifyDoes(t *testing.T) {
	_, pool := setup(t)
	odd := record("Sync", 0)
	odd.Actor = "Zoë Ångström <ops@例え.jp>"
	odd.Detail = "permissions: +cases.read −cases.delete"
	odd.Time = time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	empty := Record{Action: "Export"}
	entries := appendAll(t, pool, odd, empty, record("Erase", 1<<40))
	for i, e := range entries {
		prev := genesis
		if i > 0 {
			prev = entries[i-1].Hash
		}
		if want := hash(prev, e.Record); string(e.Hash) != string(want) {
			t.Fatalf("record %d: the database's hash %x differs from the verifier's %x", i, e.Hash, want)
		}
	}
	if res := verify(t, pool, Head{}); !res.Intact || res.Records != 3 {
		t.Fatalf("verify: %+v", res)
	}
}

func TestConcurrentAppendersKeepOneChain(t *testing.T) {
	_, pool := setup(t)
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			var err error
			for i := range 10 {
				if err = pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
					_, err := Append(context.Background(), tx, record("Erase", int64(w*10+i)))
					return err
				}); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if res := verify(t, pool, Head{}); !res.Intact || res.Records != 80 {
		t.Fatalf("verify: %+v", res)
	}
}

func TestLatestReadsTheLastRecordsOldestFirst(t *testing.T) {
	_, pool := setup(t)
	before, err := Latest(context.Background(), pool, 100)
	if err != nil {
		t.Fatal(err)
	}
	appended := appendAll(t, pool, record("Erase", 1), record("Mask", 2), record("Delete", 3))
	got, err := Latest(context.Background(), pool, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != appended[1].ID || got[1].ID != appended[2].ID || got[1].Action != "Delete" || got[1].Rows != 3 ||
		string(got[1].Hash) != string(appended[2].Hash) || got[0].Object != appended[1].Object {
		t.Errorf("Latest(2) = %+v; want the last two appended, %+v", got, appended[1:])
	}
	all, err := Latest(context.Background(), pool, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(before)+3 {
		t.Errorf("Latest(100) read %d records; want %d", len(all), len(before)+3)
	}
}
