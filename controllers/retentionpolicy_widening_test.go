package controllers

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// A change needs approval when it adds or widens a destructive rule, not
// when it narrows one or touches a rule that destroys nothing.
func TestWidenedRules(t *testing.T) {
	base := []privacyv1alpha1.RetentionRule{anonymizeClosedCustomers, deleteOldLogins}
	targets := targetsDigest(privacyv1alpha1.Targets{Names: []string{"acme"}})
	var approved privacyv1alpha1.PolicyApprovalStatus
	approveRules(&approved, base, targets)
	change := func(f func(rules []privacyv1alpha1.RetentionRule)) []privacyv1alpha1.RetentionRule {
		rules := []privacyv1alpha1.RetentionRule{*anonymizeClosedCustomers.DeepCopy(), *deleteOldLogins.DeepCopy()}
		f(rules)
		return rules
	}
	for _, tc := range []struct {
		name    string
		rules   []privacyv1alpha1.RetentionRule
		targets string
		want    []string
	}{
		{"unchanged", base, targets, nil},
		{"a longer period", change(func(r []privacyv1alpha1.RetentionRule) { r[0].Age.OlderThan = "1y" }), targets, nil},
		{"a weaker action", change(func(r []privacyv1alpha1.RetentionRule) { r[1].Action = privacyv1alpha1.RetentionAnonymize }), targets, nil},
		{"a rule removed", base[:1], targets, nil},
		{"a Pseudonymize rule added", append(slices.Clone(base), privacyv1alpha1.RetentionRule{Name: "p", Entity: "customer",
			Action: privacyv1alpha1.RetentionPseudonymize}), targets, nil},
		{"a shorter period", change(func(r []privacyv1alpha1.RetentionRule) { r[1].Age.OlderThan = "12w" }), targets, []string{"old-logins"}},
		{"a stronger action", change(func(r []privacyv1alpha1.RetentionRule) { r[0].Action = privacyv1alpha1.RetentionDelete }), targets, []string{"closed-customers"}},
		{"a condition dropped", change(func(r []privacyv1alpha1.RetentionRule) { r[0].Conditions = nil }), targets, []string{"closed-customers"}},
		{"a Delete rule added", append(slices.Clone(base), privacyv1alpha1.RetentionRule{Name: "new", Entity: "customer",
			Action: privacyv1alpha1.RetentionDelete}), targets, []string{"new"}},
		{"other targets", base, targetsDigest(privacyv1alpha1.Targets{Names: []string{"acme", "globex"}}), []string{"closed-customers", "old-logins"}},
	} {
		if got := widenedRules(&approved, tc.rules, tc.targets); !slices.Equal(got, tc.want) {
			t.Errorf("%s: widened %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A run under way stops at once when its rules are widened, rather than
// carry the widened rules out unapproved.
func TestStopWidenedRun(t *testing.T) {
	r := &RetentionPolicyReconciler{Recorder: events.NewFakeRecorder(4), Clock: clocktesting.NewFakeClock(time.Now())}
	p := &privacyv1alpha1.RetentionPolicy{Spec: privacyv1alpha1.RetentionPolicySpec{
		Approval: &privacyv1alpha1.PolicyApproval{Required: true},
		Targets:  privacyv1alpha1.Targets{Names: []string{"acme"}},
		Rules:    []privacyv1alpha1.RetentionRule{anonymizeClosedCustomers},
	}}
	p.Status.Approval = &privacyv1alpha1.PolicyApprovalStatus{}
	approveRules(p.Status.Approval, p.Spec.Rules, targetsDigest(p.Spec.Targets))
	p.Status.Run = &privacyv1alpha1.RetentionRun{ID: "r1"}
	if r.stopWidened(p) || p.Status.Run.Completed {
		t.Fatal("stopped a run of the approved rules")
	}
	p.Spec.Rules = append(p.Spec.Rules, deleteOldLogins)
	if !r.stopWidened(p) || !p.Status.Run.Completed {
		t.Fatal("a run went on with a widened rule")
	}
	if !strings.Contains(p.Status.LastError, "rules old-logins were added or widened while it ran") {
		t.Fatalf("lastError %q", p.Status.LastError)
	}
	p.Status.Run = &privacyv1alpha1.RetentionRun{ID: "r2", DryRun: true}
	if r.stopWidened(p) {
		t.Fatal("stopped a dry run")
	}
}
