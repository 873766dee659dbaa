package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/calendar"
)

// policyGate is what the approval gate lets a due run do.
type policyGate int

const (
	// gateRun: the run changes rows.
	gateRun policyGate = iota
	// gateDryRun: the run only counts, for an approver to read.
	gateDryRun
	// gateHold: no run until the counts are approved.
	gateHold
)

// approvalGate says what a due run of a policy may do, and sets the
// Approved condition. A policy without spec.approval.required runs; with
// it, a change that added or widened a Delete, Archive or Anonymize rule
// since the last approval makes the next run a dry run, and holds later
// runs until a second user approves its generation.
func approvalGate(p *privacyv1alpha1.RetentionPolicy) policyGate {
	st := &p.Status
	if p.Spec.Approval == nil || !p.Spec.Approval.Required {
		meta.RemoveStatusCondition(&st.Conditions, privacyv1alpha1.ConditionApproved)
		st.Approval = nil
		return gateRun
	}
	if st.Approval == nil {
		st.Approval = &privacyv1alpha1.PolicyApprovalStatus{}
	}
	a := st.Approval
	set := func(status metav1.ConditionStatus, reason, message string) {
		setCondition(&st.Conditions, p.Generation, privacyv1alpha1.ConditionApproved, status, reason, message)
	}
	a.Widened = widenedRules(a, p.Spec.Rules, targetsDigest(p.Spec.Targets))
	if len(a.Widened) == 0 {
		a.PendingGeneration, a.PendingDigest = 0, ""
		set(metav1.ConditionTrue, privacyv1alpha1.ReasonApprovalNotRequired,
			"no Delete, Archive or Anonymize rule was added or widened since the last approval")
		return gateRun
	}
	digest := policyDigest(p)
	if a.PendingDigest != digest {
		a.PendingGeneration, a.PendingDigest = p.Generation, digest
		set(metav1.ConditionFalse, privacyv1alpha1.ReasonAwaitingApproval, fmt.Sprintf("rules %s were added or widened: the next run is a dry run, "+
			"whose counts wait in status.targets for another user to set spec.approval.approvedGeneration: %d", strings.Join(a.Widened, ", "), p.Generation))
		return gateDryRun
	}
	if p.Spec.Approval.ApprovedGeneration != a.PendingGeneration {
		set(metav1.ConditionFalse, privacyv1alpha1.ReasonAwaitingApproval, fmt.Sprintf("rules %s were added or widened: read the dry run's counts in "+
			"status.targets, then have another user set spec.approval.approvedGeneration: %d", strings.Join(a.Widened, ", "), a.PendingGeneration))
		return gateHold
	}
	if reason, why := policyApprovalDoubt(p.Spec.Approval); reason != "" {
		set(metav1.ConditionFalse, reason, why)
		return gateHold
	}
	approveRules(a, p.Spec.Rules, targetsDigest(p.Spec.Targets))
	set(metav1.ConditionTrue, privacyv1alpha1.ReasonApproved, fmt.Sprintf("generation %d was approved by %s", a.PendingGeneration,
		p.Spec.Approval.ApprovedBy.Username))
	a.Widened, a.PendingGeneration, a.PendingDigest = nil, 0, ""
	return gateRun
}

// approvalDue says whether an approval was given and not yet acted on:
// the approved run starts at once rather than at the next schedule. An
// approval that is not trusted is said in the Approved condition instead.
func approvalDue(p *privacyv1alpha1.RetentionPolicy) bool {
	a := p.Status.Approval
	if p.Spec.Approval == nil || !p.Spec.Approval.Required || a == nil || a.PendingGeneration == 0 ||
		p.Spec.Approval.ApprovedGeneration != a.PendingGeneration || a.PendingDigest != policyDigest(p) ||
		p.Status.Run == nil || !p.Status.Run.DryRun || !p.Status.Run.Completed {
		return false
	}
	if reason, why := policyApprovalDoubt(p.Spec.Approval); reason != "" {
		setCondition(&p.Status.Conditions, p.Generation, privacyv1alpha1.ConditionApproved, metav1.ConditionFalse, reason, why)
		return false
	}
	return true
}

// policyApprovalDoubt says why an approval of a policy is not trusted, or
// nothing: both identities stamped, two different users, the approval
// after the change.
func policyApprovalDoubt(a *privacyv1alpha1.PolicyApproval) (reason, message string) {
	if a.ChangedBy == nil || a.ApprovedBy == nil {
		return privacyv1alpha1.ReasonApprovalUnverified, "spec.approval.approvedGeneration is set but spec.approval.changedBy or spec.approval.approvedBy, " +
			"where Lethe's admission webhook stamps who changed the rules and who approved, is missing: with the webhook installed, " +
			"have another user approve again"
	}
	if a.ChangedBy.Username == a.ApprovedBy.Username || (a.ChangedBy.UID != "" && a.ChangedBy.UID == a.ApprovedBy.UID) {
		return privacyv1alpha1.ReasonApprovedByRequester, fmt.Sprintf("the change was approved by %s, who made it; another user must approve it",
			a.ApprovedBy.Username)
	}
	if a.ApprovedBy.At.Before(&a.ChangedBy.At) {
		return privacyv1alpha1.ReasonApprovalUnverified, fmt.Sprintf("the approval by %s came before %s changed the rules; approve again",
			a.ApprovedBy.Username, a.ChangedBy.Username)
	}
	return "", ""
}

// destructive says whether an action destroys data a second look should
// see first.
func destructive(a privacyv1alpha1.RetentionAction) bool {
	return a == privacyv1alpha1.RetentionDelete || a == privacyv1alpha1.RetentionArchive || a == privacyv1alpha1.RetentionAnonymize
}

// strength orders the destructive actions by what they destroy.
func strength(r *privacyv1alpha1.RetentionRule) int32 {
	switch r.Action {
	case privacyv1alpha1.RetentionDelete:
		return 3
	case privacyv1alpha1.RetentionArchive:
		then := privacyv1alpha1.ArchiveThenDelete
		if r.Archive != nil && r.Archive.Then != "" {
			then = r.Archive.Then
		}
		return map[privacyv1alpha1.ArchiveFollowUp]int32{privacyv1alpha1.ArchiveThenNone: 1, privacyv1alpha1.ArchiveThenAnonymize: 2,
			privacyv1alpha1.ArchiveThenDelete: 3}[then]
	case privacyv1alpha1.RetentionAnonymize:
		return 1
	}
	return 0
}

// days is a period's length in days, months and years at their mean
// length: enough to tell a shorter period from a longer one.
func days(period string) float64 {
	p, err := calendar.ParsePeriod("olderThan", period)
	if err != nil {
		return 0
	}
	return float64(p.N) * map[string]float64{"d": 1, "w": 7, "mo": 30.44, "y": 365.25}[p.Unit]
}

// widenedRules names the Delete, Archive and Anonymize rules that are new
// or select or destroy more than approved: a shorter olderThan, a stronger
// action, another selector (whether other conditions select more depends
// on the rows, so any change counts), or changed targets.
func widenedRules(a *privacyv1alpha1.PolicyApprovalStatus, rules []privacyv1alpha1.RetentionRule, targets string) []string {
	var out []string
	for i := range rules {
		r := &rules[i]
		if !destructive(r.Action) {
			continue
		}
		j := slices.IndexFunc(a.ApprovedRules, func(b privacyv1alpha1.ApprovedRule) bool { return b.Name == r.Name })
		if j < 0 || targets != a.ApprovedTargets {
			out = append(out, r.Name)
			continue
		}
		b := a.ApprovedRules[j]
		if strength(r) > b.Strength || days(r.Age.OlderThan) < days(b.OlderThan) || selectorDigest(r) != b.Selector {
			out = append(out, r.Name)
		}
	}
	return out
}

// approveRules makes the rules the baseline.
func approveRules(a *privacyv1alpha1.PolicyApprovalStatus, rules []privacyv1alpha1.RetentionRule, targets string) {
	a.ApprovedRules = nil
	for i := range rules {
		r := &rules[i]
		if destructive(r.Action) {
			a.ApprovedRules = append(a.ApprovedRules, privacyv1alpha1.ApprovedRule{Name: r.Name, Strength: strength(r),
				OlderThan: r.Age.OlderThan, Selector: selectorDigest(r)})
		}
	}
	a.ApprovedTargets = targets
}

func digestOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// API types always marshal.
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func selectorDigest(r *privacyv1alpha1.RetentionRule) string {
	return digestOf([]any{r.Entity, r.Age.Column, r.Conditions, r.Fields})
}

func targetsDigest(t privacyv1alpha1.Targets) string { return digestOf(t) }

func policyDigest(p *privacyv1alpha1.RetentionPolicy) string {
	return digestOf([]any{p.Spec.Rules, p.Spec.Targets})
}

// holdRun passes a due run by while the policy waits for approval, so the
// same scheduled time or run-now value does not come back to it.
func (r *RetentionPolicyReconciler) holdRun(p *privacyv1alpha1.RetentionPolicy, scheduled time.Time, runNow string) {
	st := &p.Status
	t := metav1.NewTime(scheduled)
	st.LastScheduleTime = &t
	if runNow != "" {
		st.LastRunNow = runNow
	}
	r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonAwaitingApproval, "Run",
		"the run due at %s did not start: generation %d waits for approval", scheduled.UTC().Format(time.RFC3339), st.Approval.PendingGeneration)
}

// stopWidened stops a run that changes rows when the policy's rules were
// added to or widened while it ran: the widened rules wait for a dry run
// and an approval like any other change. It says whether it stopped the
// run.
func (r *RetentionPolicyReconciler) stopWidened(p *privacyv1alpha1.RetentionPolicy) bool {
	st := &p.Status
	if st.Run == nil || st.Run.Completed || st.Run.DryRun || p.Spec.Approval == nil || !p.Spec.Approval.Required {
		return false
	}
	approved := st.Approval
	if approved == nil {
		approved = &privacyv1alpha1.PolicyApprovalStatus{}
	}
	widened := widenedRules(approved, p.Spec.Rules, targetsDigest(p.Spec.Targets))
	if len(widened) == 0 {
		return false
	}
	st.Run.Completed = true
	t := metav1.NewTime(r.Clock.Now())
	st.LastCompletionTime = &t
	st.LastError = fmt.Sprintf("run %s stopped: rules %s were added or widened while it ran", st.Run.ID, strings.Join(widened, ", "))
	setCondition(&st.Conditions, p.Generation, privacyv1alpha1.ConditionApproved, metav1.ConditionFalse, privacyv1alpha1.ReasonAwaitingApproval,
		fmt.Sprintf("rules %s were added or widened while run %s ran, which stopped: the next run is a dry run, whose counts wait for another "+
			"user's approval", strings.Join(widened, ", "), st.Run.ID))
	r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonAwaitingApproval, "Run",
		"run %s stopped: rules %s were added or widened while it ran; the next run is a dry run awaiting approval", st.Run.ID, strings.Join(widened, ", "))
	return true
}
