package classify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// canary is a value no code path may carry out of the database.
const canary = "canary-7f3a9c0e51"

// TestNoValueLeavesTheDatabase puts a unique canary in sampled columns of
// every kind and asserts it appears in no finding, reason, table note,
// error or log line, also when a table's sample fails.
func TestNoValueLeavesTheDatabase(t *testing.T) {
	pool, cat := openDB(t, `CREATE SCHEMA app;
CREATE TABLE app.people (id integer PRIMARY KEY, email text, nickname text, note text, extra jsonb, tags text[], blob bytea);
INSERT INTO app.people
SELECT i, 'p' || i || '@example.org', 'nick ' || i, 'note ' || i, '{"k": 1}', '{a,b}', '\x00'
FROM generate_series(1, 40) AS i;
INSERT INTO app.people VALUES (41, '`+canary+`@example.org', '`+canary+`', 'call `+canary+`',
  '{"who": "`+canary+`"}', '{`+canary+`}', '`+canary+`'::bytea);
CREATE TABLE app.visits (id integer PRIMARY KEY, person_id integer REFERENCES app.people (id), ip text, comment text);
INSERT INTO app.visits SELECT i, 1 + i % 41, '192.0.2.' || (i % 250), CASE WHEN i = 7 THEN '`+canary+`' ELSE 'ok' END
FROM generate_series(1, 100) AS i`)

	var logs bytes.Buffer
	prevLog, prevFlags := log.Writer(), log.Flags()
	prevSlog := slog.Default()
	log.SetOutput(&logs)
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		log.SetOutput(prevLog)
		log.SetFlags(prevFlags)
		slog.SetDefault(prevSlog)
	})

	ctx := context.Background()
	check := func(what string, v any) {
		t.Helper()
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if text := string(raw) + fmt.Sprintf("%+v", v); strings.Contains(text, canary) {
			t.Errorf("%s holds the canary: %s", what, text)
		}
	}

	res, err := Classify(ctx, pool, cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	check("the result", res)
	if len(res.Findings) < 4 {
		t.Fatalf("findings %+v, want the sampled columns found", res.Findings)
	}
	for _, tbl := range res.Tables {
		if tbl.Sampled == 0 {
			t.Errorf("%s: nothing sampled", tbl.Name)
		}
	}

	// A lock held elsewhere makes app.people's sample run out of its
	// statement timeout; app.visits is still sampled.
	locker, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = locker.Rollback(ctx) }()
	if _, err := locker.Exec(ctx, "LOCK TABLE app.people IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	res, err = Classify(ctx, pool, cat, Options{StatementTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	check("the result of a failed sample", res)
	notes := map[string]Table{}
	for _, tbl := range res.Tables {
		notes[tbl.Name] = tbl
	}
	if e := notes["app.people"].SampleError; !strings.HasPrefix(e, "sampling app.people: SQLSTATE 57014") {
		t.Errorf("app.people: sample error %q, want the statement timeout naming the table", e)
	}
	if v := notes["app.visits"]; v.SampleError != "" || v.Sampled != 100 {
		t.Errorf("app.visits: %+v, want it sampled after the failed table", v)
	}
	if _, err := locker.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}

	// An error that stops sampling altogether: the context is gone.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = Classify(cancelled, pool, cat, Options{})
	if err == nil {
		t.Fatal("Classify with a cancelled context: no error")
	}
	check("the error", err.Error())

	if strings.Contains(logs.String(), canary) {
		t.Errorf("the logs hold the canary:\n%s", logs.String())
	}
}
