package controllers

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// maxEventNote is the longest note the API server accepts on an event.
const maxEventNote = 1024

// requestStory collects what one reconcile of a request did. Warnings are
// sent as they come; the Normal steps (received, approved, started, each
// tenant done, verified, completed) are sent together when the reconcile
// ends, as one event named for the last step whose note tells every step
// in order. A request that runs to completion in one pass so costs the API
// server one event instead of one per step, and still tells its story.
type requestStory struct {
	recorder events.EventRecorder
	steps    []storyStep
}

type storyStep struct {
	reason, action, note string
}

var _ events.EventRecorder = (*requestStory)(nil)

// Eventf sends a Warning at once and keeps a Normal step for tell.
func (s *requestStory) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	if eventtype != corev1.EventTypeNormal {
		s.recorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
		return
	}
	s.steps = append(s.steps, storyStep{reason: reason, action: action, note: fmt.Sprintf(note, args...)})
}

// tell sends the Normal steps kept: one alone as it is, several as one
// event.
func (s *requestStory) tell(regarding runtime.Object) {
	steps := s.steps
	s.steps = nil
	switch len(steps) {
	case 0:
		return
	case 1:
		s.recorder.Eventf(regarding, nil, corev1.EventTypeNormal, steps[0].reason, steps[0].action, "%s", steps[0].note)
		return
	}
	sort.SliceStable(steps, func(i, j int) bool { return storyRank(steps[i].reason) < storyRank(steps[j].reason) })
	parts := make([]string, len(steps))
	for i, st := range steps {
		parts[i] = st.reason + ": " + st.note
	}
	last := steps[len(steps)-1]
	s.recorder.Eventf(regarding, nil, corev1.EventTypeNormal, last.reason, last.action, "%s", truncateNote(strings.Join(parts, "; ")))
}

// storyOrder is the order a request's steps happen in; the steps of one
// reconcile are told in it, whichever part of the reconciler noted them.
var storyOrder = []string{privacyv1alpha1.ReasonReceived, privacyv1alpha1.ReasonExtensionAccepted, privacyv1alpha1.ReasonApproved,
	privacyv1alpha1.ReasonStarted, privacyv1alpha1.ReasonTargetCompleted, privacyv1alpha1.ReasonVerified, privacyv1alpha1.ReasonCompleted}

func storyRank(reason string) int {
	for i, r := range storyOrder {
		if r == reason {
			return i
		}
	}
	return len(storyOrder)
}

// truncateNote cuts a note to what an event holds, on a character boundary.
func truncateNote(note string) string {
	if len(note) <= maxEventNote {
		return note
	}
	const more = " ..."
	cut := maxEventNote - len(more)
	for cut > 0 && !utf8.RuneStart(note[cut]) {
		cut--
	}
	return note[:cut] + more
}
