package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/identity"
	"github.com/lethe-dev/lethe/internal/retention"
)

// maxArchives bounds status.archives (its MaxItems).
const maxArchives = 100

// administerArchives expires, in every target, the policy's archives older
// than their rule's archive.retainFor, deletes those spec.archive.delete
// lists (not the current run's while it runs: it still writes them), and
// lists every archive of the policy's runs in status.archives, newest
// first. Each expiry and deletion has its audit record in the tenant
// database and an event; neither carries a row value.
func (r *RetentionPolicyReconciler) administerArchives(ctx context.Context, p *privacyv1alpha1.RetentionPolicy, works []targetWork, now time.Time) error {
	st := &p.Status
	tz := ptr.Deref(p.Spec.TimeZone, "UTC")
	object := audit.Object{Kind: "RetentionPolicy", Namespace: p.Namespace, Name: p.Name, UID: string(p.UID)}
	expirer := engine.Run{Kind: engine.KindPolicy, Type: "Retention", Actor: objectActor(p), Object: object, Clock: func() time.Time { return now }}
	deleter := expirer
	deleter.Actor = identity.Actor(p.Annotations[privacyv1alpha1.AnnotationArchiveDeleteRequestedBy], expirer.Actor)
	deletions := p.Spec.Archive != nil && len(p.Spec.Archive.Delete) > 0
	if deletions {
		if doubt := archiveDeletionDoubt(p); doubt != "" {
			deletions = false
			r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonArchiveDeletionUnapproved, "Delete",
				"spec.archive.delete lists %d archives; nothing is deleted: %s", len(p.Spec.Archive.Delete), doubt)
		}
	}
	var all []privacyv1alpha1.ArchiveStatus
	for _, w := range works {
		for _, rule := range p.Spec.Rules {
			if rule.Archive == nil || rule.Archive.RetainFor == "" {
				continue
			}
			interval, err := retention.Interval(rule.Archive.RetainFor)
			if err != nil {
				return stalled(privacyv1alpha1.ReasonRuleInvalid, "rule %s: archive.retainFor: %s", rule.Name, err.Error())
			}
			expired, err := engine.ExpireArchives(ctx, w.pool, &expirer, string(p.UID), rule.Name, interval, tz, now)
			if err != nil {
				return fmt.Errorf("TenantDatabase %s: expire the archives of rule %s: %w", w.tdb.Name, rule.Name, err)
			}
			for _, a := range expired {
				r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonArchiveExpired, "Expire",
					"archive of rule %s, run %s in %s expired (older than %s)", a.Rule, a.Run, w.tdb.Name, rule.Archive.RetainFor)
			}
		}
		if deletions {
			for _, ref := range p.Spec.Archive.Delete {
				if st.Run != nil && !st.Run.Completed && ref.Run == st.Run.ID {
					continue
				}
				ok, err := engine.EndArchive(ctx, w.pool, &deleter, ref.Run, ref.Rule, engine.ArchiveDeleted)
				if err != nil {
					return fmt.Errorf("TenantDatabase %s: delete the archive of rule %s, run %s: %w", w.tdb.Name, ref.Rule, ref.Run, err)
				}
				if ok {
					r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonArchiveDeleted, "Delete",
						"archive of rule %s, run %s in %s deleted, as spec.archive.delete asks (requested by %s, approved by %s)",
						ref.Rule, ref.Run, w.tdb.Name, deleter.Actor, identity.Actor(p.Annotations[privacyv1alpha1.AnnotationApprovedBy], ""))
				}
			}
		}
		list, err := engine.Archives(ctx, w.pool, string(p.UID))
		if err != nil {
			return fmt.Errorf("TenantDatabase %s: list the archives: %w", w.tdb.Name, err)
		}
		for _, a := range list {
			s := privacyv1alpha1.ArchiveStatus{Tenant: w.tdb.Name, Run: a.Run, Rule: a.Rule, Entity: a.Entity, Rows: a.Rows,
				CreatedAt: metav1.NewTime(a.CreatedAt), State: privacyv1alpha1.ArchiveState(a.State), SHA256: a.SHA256}
			if a.EndedAt != nil {
				s.EndedAt = ptr.To(metav1.NewTime(*a.EndedAt))
			}
			all = append(all, s)
		}
	}
	slices.SortStableFunc(all, func(a, b privacyv1alpha1.ArchiveStatus) int {
		if c := b.CreatedAt.Compare(a.CreatedAt.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Tenant+"\x00"+a.Run+"\x00"+a.Rule, b.Tenant+"\x00"+b.Run+"\x00"+b.Rule)
	})
	st.ArchivesOmitted = 0
	if len(all) > maxArchives {
		st.ArchivesOmitted = int32(len(all) - maxArchives) // #nosec G115 -- a count of archives
		all = all[:maxArchives]
	}
	st.Archives = all
	return nil
}

// archiveDeletionDoubt says why spec.archive.delete may not proceed: four
// eyes, checked here and not only by the webhook, so a manager run without
// its webhook is not fooled by a hand-set field. It needs
// spec.archive.approved, the identities of who last changed the list and
// of who approved (recorded by the identity webhook), two different users,
// and the approval given after the list's last change. Empty means it may.
func archiveDeletionDoubt(p *privacyv1alpha1.RetentionPolicy) string {
	if !p.Spec.Archive.Approved {
		return "it waits for spec.archive.approved: true, set by someone other than who listed the archives"
	}
	requester, rerr := identity.Decode(p.Annotations[privacyv1alpha1.AnnotationArchiveDeleteRequestedBy])
	approver, aerr := identity.Decode(p.Annotations[privacyv1alpha1.AnnotationApprovedBy])
	if rerr != nil || aerr != nil {
		return fmt.Sprintf("the identities of who listed the archives and who approved (annotations %s and %s, which Lethe's admission "+
			"webhook records) are missing or unreadable; with the webhook installed, set spec.archive.approved to false, then have "+
			"another user approve again", privacyv1alpha1.AnnotationArchiveDeleteRequestedBy, privacyv1alpha1.AnnotationApprovedBy)
	}
	if requester.Username == approver.Username || (requester.UID != "" && requester.UID == approver.UID) {
		return fmt.Sprintf("the deletions were approved by %s, who listed them; another user must approve them", approver.Username)
	}
	if approver.At.Before(requester.At) {
		return fmt.Sprintf("spec.archive.delete changed (by %s) after %s approved; set spec.archive.approved to false, then have "+
			"another user approve the list as it is", requester.Username, approver.Username)
	}
	return ""
}
