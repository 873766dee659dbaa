package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// runPseudonymization pseudonymizes one departed employee of acme, known to
// globex under the same employee id, in both tenants with one keyed job,
// and shows the same pseudonyms in both. It runs before the sample
// retention policy, whose departed-employees rule then keeps them.
func (d *demo) runPseudonymization(ctx context.Context) error {
	heading("Pseudonymization: one departed employee, the same pseudonym in acme and globex")
	conn, err := d.conn(ctx, "acme")
	if err != nil {
		return err
	}
	var id int64
	var employeeID string
	err = conn.QueryRow(ctx, `SELECT id, employee_id FROM app.employees WHERE NOT active ORDER BY left_at, id LIMIT 1`).Scan(&id, &employeeID)
	_ = conn.Close(ctx)
	if err != nil {
		return fmt.Errorf("find a departed employee: %w", err)
	}
	d.secrets = append(d.secrets, employeeID)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "departed-employee"}, Data: map[string][]byte{"employeeId": []byte(employeeID)}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "pseudonym-key"}, Data: map[string][]byte{"key": []byte(hex.EncodeToString(key))}},
	} {
		if err := d.env.Client.Create(ctx, s); err != nil {
			return err
		}
	}
	fmt.Println("secret/departed-employee created (the employee id; it never appears below)")
	fmt.Println("secret/pseudonym-key created (a random key shared by every job whose pseudonyms must agree)")
	job := &privacyv1alpha1.PseudonymizationJob{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "departed-employee"},
		Spec: privacyv1alpha1.PseudonymizationJobSpec{
			Targets: privacyv1alpha1.Targets{Names: []string{"acme", "globex"}},
			Subject: &privacyv1alpha1.PseudonymizationSubject{IdentifierSecretRef: &privacyv1alpha1.SecretKeyReference{Name: "departed-employee", Key: "employeeId"}},
			Pseudonym: privacyv1alpha1.PseudonymSettings{Mode: privacyv1alpha1.PseudonymKeyed,
				KeySecretRef: &privacyv1alpha1.SecretKeyReference{Name: "pseudonym-key", Key: "key"},
				Fields:       []privacyv1alpha1.PseudonymField{{Column: "email", Format: "{n}@pseudonymized.invalid"}}},
			Deactivate: true,
		}}
	if err := d.env.Client.Create(ctx, job); err != nil {
		return err
	}
	fmt.Println("pseudonymizationjob/departed-employee created")
	if err := d.kubectlRun(ctx, "wait", "--for=condition=Ready", "pj/departed-employee", "-n", namespace, "--timeout=120s"); err != nil {
		return err
	}
	if err := d.kubectlRun(ctx, "get", "pj", "-n", namespace); err != nil {
		return err
	}
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TENANT\tEMPLOYEE ID\tFIRST NAME\tLAST NAME\tUSER NAME\tE-MAIL\tACTIVE")
	for _, tenant := range []string{"acme", "globex"} {
		conn, err := d.conn(ctx, tenant)
		if err != nil {
			return err
		}
		var eid, first, last, user, email string
		var active bool
		err = conn.QueryRow(ctx, "SELECT employee_id, first_name, last_name, user_name, email, active FROM app.employees WHERE id = $1", id).
			Scan(&eid, &first, &last, &user, &email, &active)
		_ = conn.Close(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%t\n", tenant, eid, first, last, user, email, active)
	}
	return w.Flush()
}
