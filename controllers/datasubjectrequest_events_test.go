package controllers

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

var _ = Describe("A request's story in events", func() {
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
	obj := &privacyv1alpha1.DataSubjectRequest{}

	It("tells the steps of one reconcile in one event, in the order they happen, and Warnings apart", func() {
		rec := events.NewFakeRecorder(10)
		story := &requestStory{recorder: rec}
		story.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonReceived, "Receive", "%s request received", "Erasure")
		story.Eventf(obj, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonInlineIdentifiers, "Receive", "use a Secret")
		story.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonStarted, "Start", "started in 2 tenant databases")
		story.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonTargetCompleted, "Run", "tenant database acme: 3 rows")
		story.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonCompleted, "Reconcile", "completed")
		story.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonApproved, "Reconcile", "approved")
		Expect(sent(rec)).To(Equal([]string{"Warning InlineIdentifiers use a Secret"}), "a Warning goes out at once")
		story.tell(obj)
		Expect(sent(rec)).To(Equal([]string{"Normal Completed Received: Erasure request received; Approved: approved; " +
			"Started: started in 2 tenant databases; TargetCompleted: tenant database acme: 3 rows; Completed: completed"}))
		story.tell(obj)
		Expect(sent(rec)).To(BeEmpty(), "a story is told once")
	})

	It("sends a single step as it is, and keeps a long story within an event's note", func() {
		rec := events.NewFakeRecorder(10)
		story := &requestStory{recorder: rec}
		story.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonExportExpired, "Expire", "export deleted")
		story.tell(obj)
		Expect(sent(rec)).To(Equal([]string{"Normal ExportExpired export deleted"}))

		for range 100 {
			story.Eventf(obj, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonTargetCompleted, "Run", "tenant database é: 0 rows found")
		}
		story.tell(obj)
		got := sent(rec)
		Expect(got).To(HaveLen(1))
		note := strings.TrimPrefix(got[0], "Normal TargetCompleted ")
		Expect(len(note)).To(BeNumerically("<=", maxEventNote))
		Expect(note).To(HaveSuffix(" ..."))
		Expect(strings.ToValidUTF8(note, "?")).To(Equal(note), "cut on a character boundary")
	})
})
