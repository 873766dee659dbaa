package engine

import (
	"context"
	"testing"

	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/tenantdb"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
	"github.com/lethe-dev/lethe/internal/testutil/testdb"
)

// beforeArchivedRows is the last schema version without per-row archives.
const beforeArchivedRows = 13

// An archive written before archives were kept per row is, after the
// upgrade, listed with its entity, rows and digest, reads as it did, and
// can be deleted like any other.
func TestArchivesWrittenBeforeTheUpgradeAreListedAndDeleted(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Pool(t, pgtest.NewDatabase(t), 2)
	if _, _, err := tenantdb.MigrateTo(ctx, pool, beforeArchivedRows); err != nil {
		t.Fatal(err)
	}
	exec(t, pool, `INSERT INTO lethe.runs (uid, kind, type, object_uid, state, created_at, completed_at)
			VALUES ('pol-1-100', 'Policy', 'Retention', 'pol-1', 'Completed', '2026-01-01T00:00:00Z', '2026-01-01T00:01:00Z');
		INSERT INTO lethe.run_steps (run_uid, step, part, entity, done, archive_sha256, updated_at)
			VALUES ('pol-1-100', 'contacts', 0, 'contactPerson', true, 'abc', now());
		INSERT INTO lethe.retention_archives (run_id, rule, batch, rows, csv) VALUES
			('pol-1-100', 'contacts', 1, 2, E'id,"a,b"\r\n1,x\r\n2,y\r\n'),
			('pol-1-100', 'contacts', 2, 1, E'3,z\r\n')`)
	if _, _, err := tenantdb.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	list, err := Archives(ctx, pool, "pol-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Entity != "contactPerson" || list[0].Rows != 3 || list[0].SHA256 != "abc" || list[0].State != ArchiveActive {
		t.Fatalf("archives after the upgrade: %+v", list)
	}
	var header string
	if err := pool.QueryRow(ctx, "SELECT header FROM lethe.archives").Scan(&header); err != nil || header != "id,\"a,b\"\r\n" {
		t.Fatalf("header %q (%v)", header, err)
	}
	if doc, err := ArchiveOf(ctx, pool, "pol-1-100", "contacts"); err != nil || doc != "id,\"a,b\"\r\n1,x\r\n2,y\r\n3,z\r\n" {
		t.Fatalf("the archive reads %q (%v)", doc, err)
	}
	run := &Run{UID: "pol-1-100", Kind: KindPolicy, Type: "Retention", Actor: "admin",
		Object: audit.Object{Kind: "RetentionPolicy", Namespace: "ns", Name: "p", UID: "pol-1"}}
	if ok, err := EndArchive(ctx, pool, run, "pol-1-100", "contacts", ArchiveDeleted); err != nil || !ok {
		t.Fatalf("the archive was not deleted (%v)", err)
	}
	if doc, err := ArchiveOf(ctx, pool, "pol-1-100", "contacts"); err != nil || doc != "" {
		t.Fatalf("the deleted archive reads %q (%v)", doc, err)
	}
}
