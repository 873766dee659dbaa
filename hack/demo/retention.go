package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// policyName is the sample RetentionPolicy of config/samples.
const policyName = "customer-service-retention"

// runRetention starts a run of the sample policy with the run-now annotation
// and prints the rows each rule changed in each tenant.
func (d *demo) runRetention(ctx context.Context) error {
	heading("Retention: run the sample policy now (annotation privacy.lethe.dev/run-now)")
	stamp := strconv.FormatInt(time.Now().Unix(), 10)
	if err := d.kubectlRun(ctx, "annotate", "rp", policyName, "-n", namespace, "privacy.lethe.dev/run-now="+stamp, "--overwrite"); err != nil {
		return err
	}
	if err := d.kubectlRun(ctx, "wait", "--for=jsonpath={.status.lastRunNow}="+stamp, "rp/"+policyName, "-n", namespace, "--timeout=60s"); err != nil {
		return err
	}
	if err := d.kubectlRun(ctx, "wait", "--for=jsonpath={.status.run.completed}=true", "rp/"+policyName, "-n", namespace, "--timeout=300s"); err != nil {
		return err
	}
	if err := d.kubectlRun(ctx, "get", "rp", "-n", namespace); err != nil {
		return err
	}
	var p privacyv1alpha1.RetentionPolicy
	if err := d.env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: policyName}, &p); err != nil {
		return err
	}
	fmt.Printf("\nrun %s, ages measured from %s\n", p.Status.Run.ID, p.Status.Run.ScheduledTime.UTC().Format(time.RFC3339))
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TENANT\tRULE\tACTION\tMATCHED\tCHANGED\tLOCKED\tARCHIVE SHA-256")
	actions := map[string]privacyv1alpha1.RetentionAction{}
	for _, r := range p.Spec.Rules {
		actions[r.Name] = r.Action
	}
	for _, t := range p.Status.Targets {
		for _, r := range t.Rules {
			sha := r.ArchiveSHA256
			if len(sha) > 16 {
				sha = sha[:16] + "..."
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", t.Name, r.Name, actions[r.Name], r.Matched, r.Changed, r.Locked, sha)
		}
	}
	return w.Flush()
}
