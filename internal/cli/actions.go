package cli

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

func approve(ctx context.Context, name string, args []string, env Env) error {
	var k kubeFlags
	fs := newFlags(name, "DATASUBJECTREQUEST [-n NAMESPACE]", fmt.Sprintf(`Approves a DataSubjectRequest as you, the kubeconfig's user: it sets
spec.approval.approved and nothing else. Lethe's admission webhook admits it only from
a user who may approve datasubjectrequests and who did not create the request (four
eyes), and records you as the approver in the request and in every tenant's audit log.

  %s erase-customer -n shop
`, name), env.Stderr)
	k.register(fs)
	pos, err := parseArgs(fs, args, 1, 1, "the name of a DataSubjectRequest")
	if err != nil {
		return err
	}
	c, err := connect(k)
	if err != nil {
		return err
	}
	var r privacyv1alpha1.DataSubjectRequest
	if err := c.get(ctx, "datasubjectrequests", pos[0], &r); err != nil {
		return err
	}
	what := describeRequest(c.ns, &r)
	switch {
	case !r.Spec.ApprovalRequired():
		_, err := fmt.Fprintf(env.Stdout, "%s needs no approval (spec.approval.required: false)\n", what)
		return err
	case r.Spec.Approved():
		_, err := fmt.Fprintf(env.Stdout, "%s is approved already, by %s\n", what, approverOf(&r))
		return err
	}
	// The resourceVersion makes the approval one of the request as read.
	patch := map[string]any{
		"metadata": map[string]any{"resourceVersion": r.ResourceVersion},
		"spec":     map[string]any{"approval": map[string]any{"approved": true}},
	}
	if err := c.mergePatch(ctx, "datasubjectrequests", r.Name, patch, &r); err != nil {
		return fmt.Errorf("not approved: %w", err)
	}
	_, err = fmt.Fprintf(env.Stdout, "approved %s as %s\n", what, approverOf(&r))
	return err
}

// describeRequest names a request with what an approver needs to know.
func describeRequest(ns string, r *privacyv1alpha1.DataSubjectRequest) string {
	s := fmt.Sprintf("DataSubjectRequest %s/%s (%s", ns, r.Name, r.Spec.Type)
	if r.Status.SubjectDigest != "" {
		s += " about subject " + short(r.Status.SubjectDigest, 19)
	}
	if r.Status.DueTime != nil {
		s += ", due " + when(r.Status.DueTime)
	}
	return s + ")"
}

// approverOf is who the admission webhook stamped as the approver.
func approverOf(r *privacyv1alpha1.DataSubjectRequest) string {
	if a := r.Spec.Approval; a != nil && a.ApprovedBy != nil {
		return a.ApprovedBy.Username
	}
	return "a user the admission webhooks did not record (are they running?)"
}

func runNow(ctx context.Context, name string, args []string, env Env) error {
	var k kubeFlags
	var wait bool
	var timeout time.Duration
	fs := newFlags(name, "RETENTIONPOLICY [-n NAMESPACE] [--wait]", fmt.Sprintf(`Starts a run of a RetentionPolicy now, as its schedule would: it sets the annotation
privacy.lethe.dev/run-now to the current time. A run already under way finishes first;
a suspended policy starts no run until spec.suspend is cleared. With --wait it waits
for the run to complete and prints what it changed.

  %s customer-service-retention -n shop --wait
`, name), env.Stderr)
	k.register(fs)
	fs.BoolVar(&wait, "wait", false, "wait until the run completes")
	fs.DurationVar(&timeout, "timeout", 30*time.Minute, "how long --wait waits")
	pos, err := parseArgs(fs, args, 1, 1, "the name of a RetentionPolicy")
	if err != nil {
		return err
	}
	c, err := connect(k)
	if err != nil {
		return err
	}
	var p privacyv1alpha1.RetentionPolicy
	if err := c.get(ctx, "retentionpolicies", pos[0], &p); err != nil {
		return err
	}
	now := time.Now().UTC()
	value := now.Format(time.RFC3339)
	for value == p.Annotations[privacyv1alpha1.AnnotationRunNow] || value == p.Status.LastRunNow {
		now = now.Add(time.Second)
		value = now.Format(time.RFC3339)
	}
	patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{privacyv1alpha1.AnnotationRunNow: value}}}
	if err := c.mergePatch(ctx, "retentionpolicies", p.Name, patch, &p); err != nil {
		return fmt.Errorf("no run asked for: %w", err)
	}
	_, _ = fmt.Fprintf(env.Stdout, "asked RetentionPolicy %s/%s for a run now (%s=%s)\n", c.ns, p.Name, privacyv1alpha1.AnnotationRunNow, value)
	if p.Spec.Suspend {
		_, _ = fmt.Fprintf(env.Stdout, "note: the policy is suspended: the run starts when spec.suspend is cleared\n")
	}
	if r := p.Status.Run; r != nil && !r.Completed {
		_, _ = fmt.Fprintf(env.Stdout, "note: run %s is under way; the new run starts when it completes\n", r.ID)
	}
	if !wait {
		return nil
	}
	return waitForRun(ctx, c, p.Name, value, timeout, env)
}

// waitForRun polls a policy until the run the run-now value started
// completes, or it stalls.
func waitForRun(ctx context.Context, c *cluster, name, value string, timeout time.Duration, env Env) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var p privacyv1alpha1.RetentionPolicy
		if err := c.get(ctx, "retentionpolicies", name, &p); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("RetentionPolicy %s/%s: the run did not complete within %s", c.ns, name, timeout)
			}
			return err
		}
		st := &p.Status
		if stalled := findCondition(st.Conditions, privacyv1alpha1.ConditionStalled); stalled != nil && stalled.Status == metav1.ConditionTrue &&
			stalled.ObservedGeneration == p.Generation {
			return fmt.Errorf("RetentionPolicy %s/%s stalled (%s): %s", c.ns, name, stalled.Reason, stalled.Message)
		}
		if st.LastRunNow == value && st.Run != nil && st.Run.Completed {
			var matched, changed int64
			for _, t := range st.Targets {
				for _, r := range t.Rules {
					matched, changed = matched+r.Matched, changed+r.Changed
				}
			}
			verb := "changed"
			if st.Run.DryRun {
				verb = "would change (dry run)"
			}
			_, err := fmt.Fprintf(env.Stdout, "run %s completed in %d tenant databases: %d rows matched, %d %s\n",
				st.Run.ID, len(st.Targets), matched, changed, verb)
			if st.LastError != "" {
				_, _ = fmt.Fprintf(env.Stdout, "note: %s\n", st.LastError)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("RetentionPolicy %s/%s: the run did not complete within %s (progress %s)", c.ns, name, timeout, orNone(st.Progress))
		case <-tick.C:
		}
	}
}
