package controllers

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

var _ = Describe("A request's events", func() {
	sent := func(rec *events.FakeRecorder) []string {
		var out []string
		for {
			select {
			case e := <-rec.Events:
				out = append(out, e)
			default:
				return out
			}
		}
	}
	request := func(phase privacyv1alpha1.RequestPhase, conds ...metav1.Condition) *privacyv1alpha1.DataSubjectRequest {
		r := &privacyv1alpha1.DataSubjectRequest{}
		r.Status.Phase = phase
		r.Status.Conditions = conds
		return r
	}
	cond := func(typ string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message}
	}
	withinDeadline := cond(privacyv1alpha1.ConditionOverdue, metav1.ConditionFalse, privacyv1alpha1.ReasonWithinDeadline, "due then")

	It("sends a request that completes at once as one Completed event telling what each tenant did, and Warnings apart", func() {
		rec := events.NewFakeRecorder(10)
		ev := &requestEvents{recorder: rec}
		before := request("")
		ev.Eventf(before, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonReceived, "Receive", "%s request received", "Erasure")
		ev.Eventf(before, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonInlineIdentifiers, "Receive", "use a Secret")
		ev.Eventf(before, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonStarted, "Start", "started in 2 tenant databases")
		ev.Eventf(before, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonTargetCompleted, "Run", "tenant database acme: 3 rows found, 3 changed")
		ev.Eventf(before, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonTargetCompleted, "Run", "tenant database globex: 0 rows found, 0 changed")
		Expect(sent(rec)).To(Equal([]string{"Warning InlineIdentifiers use a Secret"}), "a Warning goes out at once")

		ev.send(before, request(privacyv1alpha1.PhaseCompleted, withinDeadline,
			cond(privacyv1alpha1.ConditionApproved, metav1.ConditionTrue, privacyv1alpha1.ReasonApprovalNotRequired, "no approval"),
			cond(privacyv1alpha1.ConditionVerified, metav1.ConditionTrue, privacyv1alpha1.ReasonVerified, "no identifier remains"),
			cond(privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonCompleted, "Erasure request completed in 2 tenant databases")))
		Expect(sent(rec)).To(Equal([]string{"Normal Completed Erasure request completed in 2 tenant databases; " +
			"tenant database acme: 3 rows found, 3 changed; tenant database globex: 0 rows found, 0 changed; no identifier remains"}))
		ev.send(before, before)
		Expect(sent(rec)).To(BeEmpty(), "events are sent once")
	})

	It("sends one event per reason when the request stops on the way, and Approved on its own", func() {
		rec := events.NewFakeRecorder(10)
		ev := &requestEvents{recorder: rec}
		fresh := request("")
		ev.Eventf(fresh, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonReceived, "Receive", "Erasure request received")
		waiting := request(privacyv1alpha1.PhaseAwaitingApproval, withinDeadline,
			cond(privacyv1alpha1.ConditionApproved, metav1.ConditionFalse, privacyv1alpha1.ReasonAwaitingApproval, "set spec.approval.approved"),
			cond(privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonAwaitingApproval, "the request waits"))
		ev.send(fresh, waiting)
		Expect(sent(rec)).To(Equal([]string{"Normal AwaitingApproval set spec.approval.approved"}))

		ev.Eventf(waiting, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonStarted, "Start", "started in 2 tenant databases")
		ev.Eventf(waiting, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonTargetCompleted, "Run", "tenant database acme: 3 rows found, 3 changed")
		ev.send(waiting, request(privacyv1alpha1.PhaseInProgress, withinDeadline,
			cond(privacyv1alpha1.ConditionApproved, metav1.ConditionTrue, privacyv1alpha1.ReasonApproved, "the request was approved by dpo"),
			cond(privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonTargetFailed, "attempt 1 failed: globex")))
		Expect(sent(rec)).To(Equal([]string{
			"Warning TargetFailed attempt 1 failed: globex",
			"Normal Approved the request was approved by dpo",
			"Normal Started started in 2 tenant databases",
			"Normal TargetCompleted tenant database acme: 3 rows found, 3 changed"}))
	})

	It("warns once about identifiers left, and of a deadline passed", func() {
		rec := events.NewFakeRecorder(10)
		ev := &requestEvents{recorder: rec}
		running := request(privacyv1alpha1.PhaseInProgress, withinDeadline)
		ev.Eventf(running, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonTargetCompleted, "Run", "tenant database acme: 3 rows found, 3 changed")
		ev.send(running, request(privacyv1alpha1.PhaseCompleted,
			cond(privacyv1alpha1.ConditionOverdue, metav1.ConditionTrue, privacyv1alpha1.ReasonDeadlineExceeded, "the deadline passed"),
			cond(privacyv1alpha1.ConditionVerified, metav1.ConditionFalse, privacyv1alpha1.ReasonIdentifiersRemain, "left in app.notes.body"),
			cond(privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonIdentifiersRemain, "left in app.notes.body")))
		Expect(sent(rec)).To(Equal([]string{
			"Warning DeadlineExceeded the deadline passed",
			"Warning IdentifiersRemain left in app.notes.body",
			"Normal TargetCompleted tenant database acme: 3 rows found, 3 changed"}))
	})

	It("keeps a long note within an event's", func() {
		rec := events.NewFakeRecorder(10)
		ev := &requestEvents{recorder: rec}
		running := request(privacyv1alpha1.PhaseInProgress)
		for range 100 {
			ev.Eventf(running, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonTargetCompleted, "Run", "tenant database é: 0 rows found")
		}
		ev.send(running, running)
		got := sent(rec)
		Expect(got).To(HaveLen(1))
		note := strings.TrimPrefix(got[0], "Normal TargetCompleted ")
		Expect(len(note)).To(BeNumerically("<=", maxEventNote))
		Expect(note).To(HaveSuffix(" ..."))
		Expect(strings.ToValidUTF8(note, "?")).To(Equal(note), "cut on a character boundary")
	})
})
