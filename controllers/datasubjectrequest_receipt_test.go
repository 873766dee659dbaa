package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// A CCPA request says by when its receipt is to be confirmed, and whether it
// was; a GDPR request has no such condition.
func TestReceiptConfirmationFollowsTenBusinessDays(t *testing.T) {
	received := metav1.NewTime(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)) // a Monday: due 2026-12-21
	completed := metav1.NewTime(time.Date(2026, 12, 10, 9, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name        string
		regulation  string
		annotation  string
		completedAt *metav1.Time
		now         time.Time
		status      metav1.ConditionStatus
		reason      string
	}{
		{"pending", "CCPA", "", nil, time.Date(2026, 12, 21, 23, 0, 0, 0, time.UTC), metav1.ConditionFalse, privacyv1alpha1.ReasonConfirmationDue},
		{"late", "CCPA", "", nil, time.Date(2026, 12, 22, 0, 0, 0, 0, time.UTC), metav1.ConditionFalse, privacyv1alpha1.ReasonConfirmationOverdue},
		{"confirmed", "CCPA", "2026-12-08T10:00:00Z", nil, time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC), metav1.ConditionTrue, privacyv1alpha1.ReasonReceiptConfirmed},
		{"unreadable", "CCPA", "yesterday", nil, time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC), metav1.ConditionFalse, privacyv1alpha1.ReasonConfirmationDue},
		{"answered", "CCPA", "", &completed, time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC), metav1.ConditionTrue, privacyv1alpha1.ReasonAnsweredBeforeConfirmationDue},
		{"GDPR", "GDPR", "", nil, time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC), "", ""},
	} {
		obj := &privacyv1alpha1.DataSubjectRequest{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}}
		obj.Spec.Regulation = privacyv1alpha1.Regulation(tc.regulation)
		if tc.annotation != "" {
			obj.Annotations[privacyv1alpha1.AnnotationReceiptConfirmedAt] = tc.annotation
		}
		obj.Status.ReceivedAt, obj.Status.CompletionTime = &received, tc.completedAt
		setReceiptConfirmation(obj, tc.now, time.UTC)
		c := meta.FindStatusCondition(obj.Status.Conditions, privacyv1alpha1.ConditionReceiptConfirmed)
		switch {
		case tc.status == "" && c != nil:
			t.Errorf("%s: unexpected condition %+v", tc.name, c)
		case tc.status != "" && (c == nil || c.Status != tc.status || c.Reason != tc.reason):
			t.Errorf("%s: got %+v, want %s %s", tc.name, c, tc.status, tc.reason)
		}
	}
}
