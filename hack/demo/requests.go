package main

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// runRequests files an access and an erasure request about one customer of
// acme and shows their outcome.
func (d *demo) runRequests(ctx context.Context) error {
	heading("Data subject requests: access and erasure of one acme customer")
	conn, err := d.conn(ctx, "acme")
	if err != nil {
		return err
	}
	var email string
	err = conn.QueryRow(ctx, "SELECT email FROM app.customers WHERE id = (SELECT customer_id FROM app.cases GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)").Scan(&email)
	_ = conn.Close(ctx)
	if err != nil {
		return err
	}
	d.secrets = append(d.secrets, email)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "customer-identifiers"},
		Data: map[string][]byte{"email": []byte(email)}}
	if err := d.env.Client.Create(ctx, secret); err != nil {
		return err
	}
	fmt.Println("secret/customer-identifiers created (the customer's e-mail; it never appears below)")
	if err := d.kubectlRun(ctx, "apply", "-k", "config/samples/requests", "-n", namespace); err != nil {
		return err
	}
	// The erasure waits for approval; the access request runs at once, so
	// the export shows the customer's data before it is erased.
	if err := d.kubectlRun(ctx, "wait", "--for=jsonpath={.status.phase}=AwaitingApproval", "dsr/erase-customer", "-n", namespace, "--timeout=60s"); err != nil {
		return err
	}
	if err := d.kubectlRun(ctx, "wait", "--for=condition=Ready", "dsr/access-customer", "-n", namespace, "--timeout=120s"); err != nil {
		return err
	}
	// The local API server runs no admission webhooks, which stamp who
	// requested and who approved; without those identities the controller
	// trusts no approval (ApprovalUnverified), so the demo waives it and
	// stamps the waiver itself, as on a cluster only the webhook may, for a
	// user who may approve.
	fmt.Println("# no admission webhooks here to stamp a second person's approval: the demo waives it, stamped by hand")
	waiver := fmt.Sprintf(`{"spec":{"approval":{"required":false,"approvedBy":{"username":"demo-dpo","at":%q}}}}`,
		time.Now().UTC().Format(time.RFC3339))
	if err := d.kubectlRun(ctx, "patch", "dsr", "erase-customer", "-n", namespace, "--type", "merge", "-p", waiver); err != nil {
		return err
	}
	if err := d.kubectlRun(ctx, "wait", "--for=condition=Ready", "dsr/erase-customer", "-n", namespace, "--timeout=120s"); err != nil {
		return err
	}
	if err := d.kubectlRun(ctx, "get", "dsr", "-n", namespace, "-o", "wide"); err != nil {
		return err
	}

	heading("Access export manifest (Secret access-customer-export, key export.zip)")
	var access privacyv1alpha1.DataSubjectRequest
	if err := d.env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "access-customer"}, &access); err != nil {
		return err
	}
	var export corev1.Secret
	if err := d.env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: access.Status.Export.SecretRef.Name}, &export); err != nil {
		return err
	}
	data := export.Data["export.zip"]
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	for _, f := range zr.File {
		if f.Name != "manifest.json" {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		manifest, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return err
		}
		fmt.Println(string(manifest))
	}

	heading("Erasure outcome (rows per entity, per tenant)")
	var erase privacyv1alpha1.DataSubjectRequest
	if err := d.env.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "erase-customer"}, &erase); err != nil {
		return err
	}
	fmt.Printf("subject %s, phase %s, due %s\n", erase.Status.SubjectDigest, erase.Status.Phase, erase.Status.DueTime.UTC().Format("2006-01-02"))
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TENANT\tENTITY\tFOUND\tCHANGED\tSHARED")
	for _, t := range erase.Status.Targets {
		for _, e := range t.Entities {
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\n", t.Name, e.Entity, e.Found, e.Changed, e.Shared)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, c := range erase.Status.Conditions {
		if c.Type == privacyv1alpha1.ConditionVerified {
			fmt.Printf("%s=%s (%s): %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	return nil
}
