package controllers

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// maxEventNote is the longest note the API server accepts on an event.
const maxEventNote = 1024

// requestEvents collects the events of one reconcile of a request and sends
// them once its status is written, one event per reason (so `kubectl get
// events --field-selector reason=Approved` finds them), and only for what
// changed: the phase the request reached, each condition that changed, and
// Warnings, which are sent as they come. A step the request went past within
// the reconcile is not announced on its own: a request that runs to the end
// at once sends Completed, whose note tells what each tenant database did and
// what the verification found, rather than Received, Started,
// TargetCompleted, Verified and Completed. A request so costs the API server
// one or two events, whatever its number of targets.
type requestEvents struct {
	recorder events.EventRecorder
	steps    []requestStep
}

type requestStep struct {
	reason, action, note string
}

var _ events.EventRecorder = (*requestEvents)(nil)

// Eventf sends a Warning at once and keeps a Normal step for send.
func (e *requestEvents) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	if eventtype != corev1.EventTypeNormal {
		e.recorder.Eventf(regarding, related, eventtype, reason, action, note, args...)
		return
	}
	e.steps = append(e.steps, requestStep{reason: reason, action: action, note: fmt.Sprintf(note, args...)})
}

// passedBy says whether a step is one a request in phase went past, and
// whether its note is folded into the Completed event's (it tells what the
// request did, as TargetCompleted and Verified do) or dropped. completed
// says a Completed event is sent in this reconcile.
func passedBy(reason string, phase privacyv1alpha1.RequestPhase, completed bool) (passed, fold bool) {
	switch reason {
	case privacyv1alpha1.ReasonReceived:
		return phase != privacyv1alpha1.PhasePending, false
	case privacyv1alpha1.ReasonStarted:
		return phase == privacyv1alpha1.PhaseCompleted || phase == privacyv1alpha1.PhaseFailed, false
	case privacyv1alpha1.ReasonTargetCompleted, privacyv1alpha1.ReasonVerified:
		return completed, true
	}
	return false, false
}

// send records the condition transitions between before and after, and
// sends the Normal events kept: the steps of one reason as one event, in
// the order they happen, those the request went past left out or folded
// into the Completed event.
func (e *requestEvents) send(before, after *privacyv1alpha1.DataSubjectRequest) {
	recordRequestTransitions(e, before, after)
	steps := e.steps
	e.steps = nil
	completed := slices.ContainsFunc(steps, func(s requestStep) bool { return s.reason == privacyv1alpha1.ReasonCompleted })
	var reasons, folded []string
	notes := map[string][]string{}
	actions := map[string]string{}
	for _, s := range steps {
		if passed, fold := passedBy(s.reason, after.Status.Phase, completed); passed {
			if fold {
				folded = append(folded, s.note)
			}
			continue
		}
		if _, seen := notes[s.reason]; !seen {
			reasons = append(reasons, s.reason)
			actions[s.reason] = s.action
		}
		notes[s.reason] = append(notes[s.reason], s.note)
	}
	notes[privacyv1alpha1.ReasonCompleted] = append(notes[privacyv1alpha1.ReasonCompleted], folded...)
	slices.SortStableFunc(reasons, func(a, b string) int { return stepRank(a) - stepRank(b) })
	for _, reason := range reasons {
		e.recorder.Eventf(after, nil, corev1.EventTypeNormal, reason, actions[reason], "%s", truncateNote(strings.Join(notes[reason], "; ")))
	}
}

// stepOrder is the order a request's steps happen in; the events of one
// reconcile are sent in it, whichever part of the reconciler noted them.
var stepOrder = []string{privacyv1alpha1.ReasonReceived, privacyv1alpha1.ReasonExtensionAccepted, privacyv1alpha1.ReasonAwaitingApproval,
	privacyv1alpha1.ReasonApproved, privacyv1alpha1.ReasonStarted, privacyv1alpha1.ReasonTargetCompleted, privacyv1alpha1.ReasonVerified,
	privacyv1alpha1.ReasonCompleted}

func stepRank(reason string) int {
	if i := slices.Index(stepOrder, reason); i >= 0 {
		return i
	}
	return len(stepOrder)
}

// recordRequestTransitions notes an event for each of the Approved,
// Overdue, Verified and Ready conditions whose status or reason changed,
// named for its new reason: a Warning when it went wrong, else a Normal
// step. Quiet reasons (within the deadline, no approval needed) send none,
// and Ready none where another condition or the phase's step says it
// (awaiting approval, under way, identifiers left).
func recordRequestTransitions(ev events.EventRecorder, before, after *privacyv1alpha1.DataSubjectRequest) {
	said := map[string]bool{privacyv1alpha1.ReasonAwaitingApproval: true, privacyv1alpha1.ReasonProgressing: true}
	for _, typ := range []string{privacyv1alpha1.ConditionApproved, privacyv1alpha1.ConditionOverdue, privacyv1alpha1.ConditionVerified, privacyv1alpha1.ConditionReady} {
		was := meta.FindStatusCondition(before.Status.Conditions, typ)
		now := meta.FindStatusCondition(after.Status.Conditions, typ)
		if now == nil || (was != nil && was.Status == now.Status && was.Reason == now.Reason) {
			continue
		}
		switch {
		case now.Reason == privacyv1alpha1.ReasonWithinDeadline, now.Reason == privacyv1alpha1.ReasonCompletedInTime,
			now.Reason == privacyv1alpha1.ReasonApprovalNotRequired, now.Reason == privacyv1alpha1.ReasonExtensionRefused:
			continue
		case typ == privacyv1alpha1.ConditionReady && said[now.Reason]:
			continue
		}
		said[now.Reason] = true
		kind := corev1.EventTypeNormal
		bad := now.Status == metav1.ConditionFalse
		if typ == privacyv1alpha1.ConditionOverdue {
			bad = now.Status == metav1.ConditionTrue || now.Reason == privacyv1alpha1.ReasonDeadlineApproaching
		}
		if bad && now.Reason != privacyv1alpha1.ReasonAwaitingApproval {
			kind = corev1.EventTypeWarning
		}
		ev.Eventf(after, nil, kind, now.Reason, "Reconcile", "%s", now.Message)
	}
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
