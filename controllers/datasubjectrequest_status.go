package controllers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/calendar"
	"github.com/lethe-dev/lethe/internal/dsr"
)

// deadlineWarning is how long before the deadline a Warning event is sent.
const deadlineWarning = 7 * 24 * time.Hour

func regulationOf(obj *privacyv1alpha1.DataSubjectRequest) string {
	if obj.Spec.Regulation == "" {
		return dsr.GDPR
	}
	return string(obj.Spec.Regulation)
}

// requestLocation is the time zone a request's deadline is counted in.
func requestLocation(obj *privacyv1alpha1.DataSubjectRequest) (*time.Location, error) {
	return calendar.Zone(ptr.Deref(obj.Spec.TimeZone, ""))
}

// setDeadline computes receivedAt and the due time in the request's time
// zone, accepting an extension only before the first deadline.
func setDeadline(ev events.EventRecorder, obj *privacyv1alpha1.DataSubjectRequest, now time.Time, loc *time.Location) time.Time {
	st := &obj.Status
	received := obj.CreationTimestamp
	if obj.Spec.ReceivedAt != nil {
		received = *obj.Spec.ReceivedAt
	}
	st.ReceivedAt = &received
	first := dsr.Deadline(regulationOf(obj), received.Time, false, loc)
	if obj.Spec.Extension != nil && !st.Extended {
		if now.Before(first) {
			st.Extended = true
			ev.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonExtensionAccepted, "Extend",
				"deadline extended to %s", dsr.Deadline(regulationOf(obj), received.Time, true, loc).UTC().Format(time.RFC3339))
		} else if c := meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionOverdue); c == nil || c.Reason != privacyv1alpha1.ReasonExtensionRefused {
			setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionOverdue, metav1.ConditionTrue, privacyv1alpha1.ReasonExtensionRefused,
				fmt.Sprintf("the deadline %s passed before the request completed; the extension came after it and was not accepted", first.UTC().Format(time.RFC3339)))
			ev.Eventf(obj, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonExtensionRefused, "Extend",
				"extension refused: it came after the first deadline")
		}
	}
	due := dsr.Deadline(regulationOf(obj), received.Time, st.Extended, loc)
	d := metav1.NewTime(due)
	st.DueTime = &d
	return due
}

// setReceiptConfirmation sets, for a CCPA request, the ReceiptConfirmed
// condition: the consumer is to be told within 10 business days of receipt
// that the request was received.
func setReceiptConfirmation(obj *privacyv1alpha1.DataSubjectRequest, now time.Time, loc *time.Location) {
	st := &obj.Status
	if regulationOf(obj) != dsr.CCPA || st.ReceivedAt == nil {
		meta.RemoveStatusCondition(&st.Conditions, privacyv1alpha1.ConditionReceiptConfirmed)
		return
	}
	due := dsr.ConfirmationDue(st.ReceivedAt.Time, loc)
	set := func(status metav1.ConditionStatus, reason, message string) {
		setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionReceiptConfirmed, status, reason, message)
	}
	if v, ok := obj.Annotations[privacyv1alpha1.AnnotationReceiptConfirmedAt]; ok {
		at, err := time.Parse(time.RFC3339, v)
		switch {
		case err != nil:
			set(metav1.ConditionFalse, privacyv1alpha1.ReasonConfirmationDue, fmt.Sprintf("annotation %s is not an RFC 3339 time (for example 2026-12-07T10:00:00Z); confirm receipt by %s",
				privacyv1alpha1.AnnotationReceiptConfirmedAt, due.UTC().Format(time.RFC3339)))
		case at.After(due):
			set(metav1.ConditionTrue, privacyv1alpha1.ReasonReceiptConfirmed, fmt.Sprintf("receipt confirmed at %s, after it was due (%s)",
				at.UTC().Format(time.RFC3339), due.UTC().Format(time.RFC3339)))
		default:
			set(metav1.ConditionTrue, privacyv1alpha1.ReasonReceiptConfirmed, fmt.Sprintf("receipt confirmed at %s", at.UTC().Format(time.RFC3339)))
		}
		return
	}
	if st.CompletionTime != nil && !st.CompletionTime.After(due) {
		set(metav1.ConditionTrue, privacyv1alpha1.ReasonAnsweredBeforeConfirmationDue, fmt.Sprintf("the request was answered at %s, before its receipt had to be confirmed (%s)",
			st.CompletionTime.UTC().Format(time.RFC3339), due.UTC().Format(time.RFC3339)))
		return
	}
	if now.After(due) {
		set(metav1.ConditionFalse, privacyv1alpha1.ReasonConfirmationOverdue, fmt.Sprintf("CCPA: receipt was to be confirmed to the consumer by %s (10 business days); "+
			"once done, annotate the request %s=<time>", due.UTC().Format(time.RFC3339), privacyv1alpha1.AnnotationReceiptConfirmedAt))
		return
	}
	set(metav1.ConditionFalse, privacyv1alpha1.ReasonConfirmationDue, fmt.Sprintf("CCPA: confirm receipt to the consumer by %s (10 business days), "+
		"then annotate the request %s=<time>", due.UTC().Format(time.RFC3339), privacyv1alpha1.AnnotationReceiptConfirmedAt))
}

// setOverdue sets the Overdue condition for a request still running and
// returns when to look again (at the warning point or the deadline).
func setOverdue(obj *privacyv1alpha1.DataSubjectRequest, due, now time.Time) time.Duration {
	st := &obj.Status
	switch {
	case !now.Before(due):
		if c := meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionOverdue); c != nil && c.Reason == privacyv1alpha1.ReasonExtensionRefused {
			return 0 // says both: overdue, and why the extension did not count
		}
		setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionOverdue, metav1.ConditionTrue, privacyv1alpha1.ReasonDeadlineExceeded,
			fmt.Sprintf("the deadline %s passed before the request completed", due.UTC().Format(time.RFC3339)))
		return 0
	case due.Sub(now) <= deadlineWarning:
		setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionOverdue, metav1.ConditionFalse, privacyv1alpha1.ReasonDeadlineApproaching,
			fmt.Sprintf("the deadline %s is less than 7 days away", due.UTC().Format(time.RFC3339)))
		return due.Sub(now)
	default:
		setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionOverdue, metav1.ConditionFalse, privacyv1alpha1.ReasonWithinDeadline,
			fmt.Sprintf("due %s", due.UTC().Format(time.RFC3339)))
		return due.Sub(now) - deadlineWarning
	}
}

// approved sets the Approved condition and says whether the request may run.
func (r *DataSubjectRequestReconciler) approved(obj *privacyv1alpha1.DataSubjectRequest) bool {
	st := &obj.Status
	refuse := func(reason, why string) bool {
		setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionApproved, metav1.ConditionFalse, reason, why)
		return false
	}
	switch {
	case !obj.Spec.ApprovalRequired() && obj.Spec.Type.ChangesData():
		if approverOf(obj) == nil {
			return refuse(privacyv1alpha1.ReasonApprovalUnverified, "spec.approval.required is false, which waives the approval of a request that changes data, "+
				"but spec.approval.approvedBy, where Lethe's admission webhook stamps who waived it, is missing: with the webhook installed, "+
				"create the request again, waived by a user who may approve datasubjectrequests")
		}
		setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionApproved, metav1.ConditionTrue, privacyv1alpha1.ReasonApprovalNotRequired,
			"the approval was waived by "+approverOf(obj).Username)
		return true
	case !obj.Spec.ApprovalRequired():
		setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionApproved, metav1.ConditionTrue, privacyv1alpha1.ReasonApprovalNotRequired,
			"the request needs no approval")
		return true
	case obj.Spec.Approved():
		if reason, why := approvalDoubt(obj); reason != "" {
			return refuse(reason, why)
		}
		setCondition(&st.Conditions, obj.Generation, privacyv1alpha1.ConditionApproved, metav1.ConditionTrue, privacyv1alpha1.ReasonApproved,
			"the request was approved by "+approverOf(obj).Username)
		return true
	default:
		return refuse(privacyv1alpha1.ReasonAwaitingApproval, "set spec.approval.approved: true to run the request")
	}
}

// approverOf is who approved the request, as the webhook stamped it.
func approverOf(obj *privacyv1alpha1.DataSubjectRequest) *privacyv1alpha1.StampedIdentity {
	if obj.Spec.Approval == nil {
		return nil
	}
	return obj.Spec.Approval.ApprovedBy
}

// approvalDoubt says why an approval is not trusted, or nothing: the
// controller checks again what the admission webhook enforces, on the
// identities the webhook stamps and the API server keeps immutable, so a
// manager run without its webhook, or an annotation set by hand, cannot let
// a requester approve their own request.
func approvalDoubt(obj *privacyv1alpha1.DataSubjectRequest) (reason, message string) {
	requester, approver := obj.Spec.RequestedBy, approverOf(obj)
	var missing []string
	if requester == nil {
		missing = append(missing, "spec.requestedBy")
	}
	if approver == nil {
		missing = append(missing, "spec.approval.approvedBy")
	}
	if len(missing) > 0 {
		return privacyv1alpha1.ReasonApprovalUnverified, fmt.Sprintf("spec.approval.approved is set but %s, where Lethe's admission webhook stamps "+
			"who requested and who approved, %s missing: the approval cannot be checked for four eyes. With the webhook installed, "+
			"create the request again and have another user approve it", strings.Join(missing, " and "), map[bool]string{true: "is", false: "are"}[len(missing) == 1])
	}
	if requester.Username == approver.Username || (requester.UID != "" && requester.UID == approver.UID) {
		return privacyv1alpha1.ReasonApprovedByRequester, fmt.Sprintf("the request was approved by %s, who requested it; another user must approve it",
			approver.Username)
	}
	return "", ""
}
