package retention

import (
	"testing"
	"time"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/testutil/sampleapp"
)

// An archive older than its rule's retainFor expires: its rows and CSV
// are gone, lethe.archives keeps it as Expired with its rows and dates, and
// the audit log records the expiry with the rule, the run and the count.
// A younger archive stays; an administrator's deletion ends another one
// as Deleted, recorded likewise, and a second deletion finds nothing.
func TestArchivesExpireAfterRetainForAndAreDeletedOnRequest(t *testing.T) {
	pool, inv := sample(t)
	rule := compile(t, pool, inv, privacyv1alpha1.RetentionRule{Name: "contacts", Entity: "contactPerson",
		Age:    privacyv1alpha1.RetentionAge{Column: "last_activity_at", OlderThan: "18mo"},
		Action: privacyv1alpha1.RetentionArchive, Archive: &privacyv1alpha1.ArchiveOptions{Then: privacyv1alpha1.ArchiveThenNone}})
	old := newRun("policy-1-1")
	old.Clock = sampleapp.ReferenceTime
	p := finish(t, pool, old, rule)
	young := newRun("policy-1-2")
	young.Clock = func() time.Time { return sampleapp.ReferenceTime().AddDate(1, 0, 0) }
	young.Env.Now = sampleapp.ReferenceTime().AddDate(3, 0, 0)
	if finish(t, pool, young, rule).Changed == 0 {
		t.Fatal("the second run archived nothing")
	}

	at := sampleapp.ReferenceTime().AddDate(1, 6, 0)
	expired, err := engine.ExpireArchives(ctx, pool, &old.Run, "policy-1", "contacts", "1 years", "UTC", at)
	if err != nil {
		t.Fatal(err)
	}
	if len(expired) != 1 || expired[0].Run != "policy-1-1" {
		t.Fatalf("expired %+v; want the first run's archive alone", expired)
	}
	if doc, err := engine.ArchiveOf(ctx, pool, "policy-1-1", "contacts"); err != nil || doc != "" {
		t.Fatalf("the expired archive still reads %d bytes (%v)", len(doc), err)
	}
	if n := count(t, pool, "SELECT count(*) FROM lethe.archived_rows WHERE run_id = 'policy-1-1'"); n != 0 {
		t.Fatalf("%d rows of the expired archive remain", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM lethe.audit_log WHERE action = 'ExpireArchive' AND entity = 'contactPerson'
		AND rows_affected = $1 AND detail = 'rule contacts, run policy-1-1'`, p.Changed); n != 1 {
		t.Fatalf("%d audit records of the expiry; want 1", n)
	}
	if again, err := engine.ExpireArchives(ctx, pool, &old.Run, "policy-1", "contacts", "1 years", "UTC", at); err != nil || len(again) != 0 {
		t.Fatalf("a second expiry expired %+v (%v)", again, err)
	}

	ok, err := engine.EndArchive(ctx, pool, &old.Run, "policy-1-2", "contacts", engine.ArchiveDeleted)
	if err != nil || !ok {
		t.Fatalf("the deletion found no archive (%v)", err)
	}
	if ok, err := engine.EndArchive(ctx, pool, &old.Run, "policy-1-2", "contacts", engine.ArchiveDeleted); err != nil || ok {
		t.Fatalf("a second deletion ended an archive again (%v)", err)
	}
	if n := count(t, pool, "SELECT count(*) FROM lethe.audit_log WHERE action = 'DeleteArchive' AND detail = 'rule contacts, run policy-1-2'"); n != 1 {
		t.Fatalf("%d audit records of the deletion; want 1", n)
	}
	list, err := engine.Archives(ctx, pool, "policy-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Run != "policy-1-2" || list[0].State != engine.ArchiveDeleted || list[1].State != engine.ArchiveExpired ||
		list[1].Rows != p.Changed || list[1].SHA256 != p.ArchiveSHA256 || list[0].EndedAt == nil {
		t.Fatalf("archives %+v", list)
	}
}
