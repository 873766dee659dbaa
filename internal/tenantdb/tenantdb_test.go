package tenantdb

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func openPool(t *testing.T, data map[string][]byte) *pgxpool.Pool {
	t.Helper()
	cfg, err := ParseSecret(data, 2)
	if err != nil {
		t.Fatal(err)
	}
	pools := NewPools()
	t.Cleanup(pools.CloseAll)
	pool, err := pools.Get(context.Background(), "ns/t", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

func TestPingClassifiesFailures(t *testing.T) {
	db := pgtest.NewDatabase(t)
	tests := []struct {
		name   string
		mutate func(map[string][]byte)
		want   FailureKind
	}{
		{"wrong password", func(d map[string][]byte) { d["password"] = []byte("wrong") }, FailureAuthentication},
		{"unknown database", func(d map[string][]byte) { d["dbname"] = []byte("nope") }, FailureDatabaseNotFound},
		{"nothing listening", func(d map[string][]byte) { d["port"] = []byte("1") }, FailureUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := db.SecretData()
			tt.mutate(data)
			_, err := Ping(context.Background(), openPool(t, data))
			ce := Classify(err)
			if ce == nil || ce.Kind != tt.want {
				t.Fatalf("got %v (%#v), want kind %d", err, ce, tt.want)
			}
		})
	}
	version, err := Ping(context.Background(), openPool(t, db.SecretData()))
	if err != nil || version == "" {
		t.Fatalf("ping: %q %v", version, err)
	}
}

func TestPoolsReplaceAPoolWhenTheConfigurationChanges(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pools := NewPools()
	defer pools.CloseAll()
	a, _ := ParseSecret(db.SecretData(), 2)
	b, _ := ParseSecret(db.SecretData(), 3)
	ctx := context.Background()
	p1, _ := pools.Get(ctx, "k", a)
	p2, _ := pools.Get(ctx, "k", a)
	if p1 != p2 {
		t.Error("the same configuration must reuse the pool")
	}
	p3, _ := pools.Get(ctx, "k", b)
	if p3 == p1 || pools.Len() != 1 {
		t.Errorf("a new configuration must replace the pool (pools: %d)", pools.Len())
	}
	pools.Close("k")
	if pools.Len() != 0 {
		t.Error("Close must forget the pool")
	}
}

func TestPoolsEachCountsConnectionsInUse(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pools := NewPools()
	defer pools.CloseAll()
	cfg, err := ParseSecret(db.SecretData(), 3)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pool, err := pools.Get(ctx, "ns/tenant", cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stats := map[string]PoolStat{}
	pools.Each(func(key string, st PoolStat) { stats[key] = st })
	conn.Release()
	if got, want := stats["ns/tenant"], (PoolStat{InUse: 1, Idle: 0, Max: 3}); got != want || len(stats) != 1 {
		t.Errorf("stats %+v, want ns/tenant: %+v", stats, want)
	}
	pools.Each(func(key string, st PoolStat) { stats[key] = st })
	if st := stats["ns/tenant"]; st.InUse != 0 || st.Idle != 1 {
		t.Errorf("after release: %+v, want 0 in use and 1 idle", st)
	}
}

func TestMigrateIsIdempotentAndPinsSearchPath(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	// A tenant's own search_path setting must not reach the operator.
	if err := pgtest.Shared().Exec(ctx, db.Name, "ALTER ROLE "+pgtest.AppUser+" IN DATABASE "+db.Name+" SET search_path = public"); err != nil {
		t.Fatal(err)
	}
	pool := openPool(t, db.SecretData())
	v1, applied, err := Migrate(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := LatestSchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v1 != latest || applied == 0 {
		t.Fatalf("version %d (latest %d), applied %d", v1, latest, applied)
	}
	v2, applied, err := Migrate(ctx, pool)
	if err != nil || v2 != v1 || applied != 0 {
		t.Fatalf("second migrate: version %d applied %d err %v", v2, applied, err)
	}
	var sp string
	if err := pool.QueryRow(ctx, "SHOW search_path").Scan(&sp); err != nil || sp != SearchPath {
		t.Fatalf("search_path = %q (%v), want %q", sp, err, SearchPath)
	}
}

func TestReadCatalog(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool := openPool(t, db.SecretData())
	if _, err := pool.Exec(ctx, `
		CREATE SCHEMA crm;
		CREATE TABLE crm.people (id bigint PRIMARY KEY, email text NOT NULL, born date);
		CREATE TABLE crm.visits (id bigint, visited_at timestamptz NOT NULL, person_id bigint REFERENCES crm.people(id) ON UPDATE CASCADE,
			ip inet, PRIMARY KEY (id, visited_at)) PARTITION BY RANGE (visited_at);
		CREATE TABLE crm.visits_2026 PARTITION OF crm.visits FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
		CREATE SCHEMA lethe; CREATE TABLE lethe.internal (id int)`); err != nil {
		t.Fatal(err)
	}
	cat, err := ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Tables) != 2 {
		t.Fatalf("tables: %v (partitions and the lethe schema must not be listed)", keys(cat.Tables))
	}
	people := cat.Tables["crm.people"]
	email, ok := people.Column("email")
	if !ok || !email.NotNull || email.Category != 'S' || email.Type != "text" {
		t.Errorf("email column: %+v", email)
	}
	if born, _ := people.Column("born"); born.Category != 'D' || born.NotNull {
		t.Errorf("born column: %+v", born)
	}
	visits := cat.Tables["crm.visits"]
	if !visits.Partitioned || strings.Join(visits.PrimaryKey, ",") != "id,visited_at" {
		t.Errorf("visits: partitioned %v, pk %v", visits.Partitioned, visits.PrimaryKey)
	}
	if len(cat.ForeignKeys) != 1 || cat.ForeignKeys[0].RefTable != "crm.people" || cat.ForeignKeys[0].Columns[0] != "person_id" ||
		cat.ForeignKeys[0].OnDelete != OnDeleteNoAction || cat.ForeignKeys[0].OnUpdate != OnDeleteCascade {
		t.Errorf("foreign keys: %+v", cat.ForeignKeys)
	}
}

// TestDigestChangesWithTheSchemaOnly reads the catalog before and after
// rows come (same digest) and after a column, an index and a foreign key
// are added (a new digest each time).
func TestDigestChangesWithTheSchemaOnly(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool := openPool(t, db.SecretData())
	digest := func() string {
		t.Helper()
		cat, err := ReadCatalog(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		return cat.Digest()
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE SCHEMA crm; CREATE TABLE crm.people (id bigint PRIMARY KEY, email text); CREATE TABLE crm.notes (id bigint PRIMARY KEY, person_id bigint)`)
	first := digest()
	exec(`INSERT INTO crm.people SELECT i, 'p' || i FROM generate_series(1, 500) i; ANALYZE`)
	if got := digest(); got != first {
		t.Error("the digest changed when only rows did")
	}
	seen := map[string]string{first: "the first schema"}
	for _, change := range []string{
		"ALTER TABLE crm.people ADD COLUMN phone text",
		"CREATE INDEX ON crm.people (email)",
		"ALTER TABLE crm.notes ADD FOREIGN KEY (person_id) REFERENCES crm.people",
		"ALTER TABLE crm.people ALTER COLUMN email SET NOT NULL",
	} {
		exec(change)
		d := digest()
		if prev, ok := seen[d]; ok {
			t.Errorf("%s: the digest is the one of %s", change, prev)
		}
		seen[d] = change
	}
}

func TestReadCatalogMarksColumnsThatAreUniqueAlone(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool := openPool(t, db.SecretData())
	if _, err := pool.Exec(ctx, `
		CREATE SCHEMA crm;
		CREATE TABLE crm.users (id bigint PRIMARY KEY, login text NOT NULL UNIQUE, email text, nick text,
			tenant int, code text, name text, UNIQUE (tenant, code));
		CREATE UNIQUE INDEX ON crm.users (email) WHERE email IS NOT NULL;
		CREATE UNIQUE INDEX ON crm.users (lower(nick));
		CREATE UNIQUE INDEX ON crm.users (name) INCLUDE (code);
		CREATE TABLE crm.events (id bigint, at timestamptz, ref text, PRIMARY KEY (id, at), UNIQUE (ref, at))
			PARTITION BY RANGE (at);
		CREATE TABLE crm.links (url text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	cat, err := ReadCatalog(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		// primary key, unique constraint, partial unique index, unique index with included columns
		"crm.users.id": true, "crm.users.login": true, "crm.users.email": true, "crm.users.name": true,
		// expression index, multi-column constraint, no index
		"crm.users.nick": false, "crm.users.tenant": false, "crm.users.code": false,
		"crm.events.id": false, "crm.events.at": false, "crm.events.ref": false,
		"crm.links.url": true,
	}
	for key, unique := range want {
		i := strings.LastIndex(key, ".")
		c, ok := cat.Tables[key[:i]].Column(key[i+1:])
		if !ok || c.Unique != unique {
			t.Errorf("%s: Unique = %v, want %v", key, c.Unique, unique)
		}
	}
}

func keys(m map[string]*Table) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestReadTextColumnsReadsTheColumnsThatCanHoldAnIdentifier(t *testing.T) {
	db := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool := openPool(t, db.SecretData())
	if _, err := pool.Exec(ctx, `
		CREATE SCHEMA crm;
		CREATE TABLE crm.users (id bigint PRIMARY KEY, login varchar(20), gone text, age int, note text, code char(3),
			doc jsonb, raw json, tags text[], scores int[]);
		ALTER TABLE crm.users DROP COLUMN gone;
		ALTER TABLE crm.users ADD COLUMN backup_email text;
		CREATE TABLE crm.other (x text);
		CREATE TABLE crm.notes (id int PRIMARY KEY, user_id bigint REFERENCES crm.users (id), body text);
		CREATE TABLE crm.counts (n int)`); err != nil {
		t.Fatal(err)
	}
	columns := func(t *Table) string {
		var out []string
		for _, c := range t.Columns {
			out = append(out, fmt.Sprintf("%s %c %s", c.Name, c.Category, c.Type))
		}
		return strings.Join(out, ", ")
	}
	got, err := ReadTextColumns(ctx, pool, []string{"crm.users", "crm.counts", "crm.missing"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["crm.users"] == nil {
		t.Fatalf("tables: %v, want crm.users alone", keys(got))
	}
	want := "login S character varying(20), note S text, code S character(3), doc U jsonb, raw U json, tags A text[], backup_email S text"
	if c := columns(got["crm.users"]); c != want {
		t.Fatalf("columns: %s\nwant %s", c, want)
	}
	got, err = ReadTextColumns(ctx, pool, []string{"crm.users"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["crm.notes"] == nil || !got["crm.notes"].Referencing || got["crm.users"].Referencing {
		t.Fatalf("tables: %v, want crm.users and crm.notes, which references it", keys(got))
	}
	if c := columns(got["crm.notes"]); c != "body S text" {
		t.Fatalf("crm.notes columns: %s", c)
	}
}

func TestSafeErrorKeepsNoRowValue(t *testing.T) {
	ctx := context.Background()
	pool := openPool(t, pgtest.NewDatabase(t).SecretData())
	const canary = "canary-7f3a@example.com"
	for _, sql := range []string{"CREATE SCHEMA app", "CREATE TABLE app.people (id bigint PRIMARY KEY, email text UNIQUE)"} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, "INSERT INTO app.people VALUES (1, $1)", canary); err != nil {
		t.Fatal(err)
	}
	_, cast := pool.Exec(ctx, "SELECT $1::text::bigint", canary)
	_, dup := pool.Exec(ctx, "INSERT INTO app.people VALUES (2, $1)", canary)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{cast, "SQLSTATE 22P02"},
		{dup, `SQLSTATE 23505: duplicate key value violates unique constraint "people_email_key"`},
	} {
		if tc.err == nil {
			t.Fatalf("no error to describe for %q", tc.want)
		}
		got := SafeError(tc.err)
		if strings.Contains(got, canary) || !strings.Contains(got, tc.want) {
			t.Errorf("SafeError = %q; want it to hold %q and not the value", got, tc.want)
		}
	}
	if !strings.Contains(cast.Error(), canary) {
		t.Fatal("the raw error no longer quotes the value; the test proves nothing")
	}
}
