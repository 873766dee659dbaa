package disruptive

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/testutil/schemas"
)

// Finished objects of every kind stay quiet: no status write that says
// nothing new, no reconcile that nothing asked for. Status is only a view
// of what the tenant databases hold: wiped, it comes back as it was,
// without anyone touching the objects, and nothing runs again. A
// finished request deleted and created again with the same spec finds
// nothing left, changes nothing, and says so in the audit log.
func TestFinishedObjectsStayQuietAndAWipedStatusIsRebuilt(t *testing.T) {
	const ns = "wipe-status"
	ctx := context.Background()
	tn := newTenant(t, ns, "wipe", schemas.Options{Members: 30, PaymentsPerAccount: 40}, "")
	margs, addr := metricsArgs(t)
	c := newChaos(t, append(margs, "--retry-interval=1s")...)
	tn.waitReady(t, c)
	rr := startRetention(t, c, tn, 50)
	rr.finish()

	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: member-identifiers, namespace: %[1]s}
stringData: {memberId: %[2]s}
---
apiVersion: privacy.lethe.dev/v1alpha1
kind: DataSubjectRequest
metadata: {name: erase-member, namespace: %[1]s}
spec:
  type: Erasure
  subject:
    type: member
    identifiersSecretRef: {name: member-identifiers}
  targets: {names: [wipe]}
  erasure: {method: Anonymize}
  approval: {required: false}   # no webhooks here to record who approved
`, ns, schemas.MemberID(erasedMember)))
	// The job comes after the erasure, so that what it counts first is
	// what it changes: the erased member is not its to change.
	c.waitFor("the erasure to complete", func() (bool, string, error) {
		var r privacyv1alpha1.DataSubjectRequest
		if err := suite.env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "erase-member"}, &r); err != nil {
			return false, "", err
		}
		done, state := finished(&r)
		return done, state, nil
	})
	apply(t, fmt.Sprintf(`apiVersion: privacy.lethe.dev/v1alpha1
kind: PseudonymizationJob
metadata: {name: closed-members, namespace: %[1]s}
spec:
  targets: {names: [wipe]}
  selector:
    entity: member
    age: {column: joined_at, olderThan: 30d}
  pseudonym: {mode: Random, mapping: Discard}
`, ns))

	objects := []client.Object{
		&privacyv1alpha1.TenantDatabase{}, &privacyv1alpha1.DataInventory{},
		&privacyv1alpha1.RetentionPolicy{}, &privacyv1alpha1.DataSubjectRequest{}, &privacyv1alpha1.PseudonymizationJob{},
	}
	names := []string{"wipe", "", rr.key.Name, "erase-member", "closed-members"}
	inv, err := schemas.InventoryObject(schemas.Edge)
	if err != nil {
		t.Fatal(err)
	}
	names[1] = inv.Name
	for i, o := range objects {
		o.SetNamespace(ns)
		o.SetName(names[i])
	}
	c.waitFor("every object finished", func() (bool, string, error) {
		for _, o := range objects {
			if err := suite.env.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
				return false, "", err
			}
			if done, state := finished(o); !done {
				return false, fmt.Sprintf("%T %s: %s", o, o.GetName(), state), nil
			}
		}
		return true, "", nil
	})
	checkQuiet(t, addr, objects)

	before := map[string]string{}
	for _, o := range objects {
		before[o.GetName()] = view(t, o)
	}
	changes := tn.scalar(t, "SELECT count(*) FROM disrupt.changes")
	batches := tn.scalar(t, "SELECT count(*) FROM lethe.run_batches")
	records := tn.scalar(t, "SELECT count(*) FROM lethe.audit_log")

	for _, o := range objects {
		wipeStatus(t, o)
	}
	t.Logf("status wiped on %d objects", len(objects))
	c.waitFor("every status rebuilt", func() (bool, string, error) {
		for _, o := range objects {
			if err := suite.env.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
				return false, "", err
			}
			if got := view(t, o); got != before[o.GetName()] {
				return false, fmt.Sprintf("%T %s: %s; before the wipe: %s", o, o.GetName(), got, before[o.GetName()]), nil
			}
		}
		return true, "", nil
	})
	if n := tn.scalar(t, "SELECT count(*) FROM disrupt.changes"); n != changes {
		t.Errorf("%d rows changed after the wipe: status was rebuilt by running again", n-changes)
	}
	if n := tn.scalar(t, "SELECT count(*) FROM lethe.run_batches"); n != batches {
		t.Errorf("%d batches in the ledger after the wipe: a run started again", n-batches)
	}
	if n := tn.scalar(t, "SELECT count(*) FROM lethe.audit_log"); n != records {
		t.Errorf("%d audit records after the wipe: a run started again", n-records)
	}

	// The same request again, as a new object: nothing of the member is
	// left to change, and the audit log says it looked.
	req := objects[3].(*privacyv1alpha1.DataSubjectRequest)
	oldUID := req.UID
	kubectl(t, "", "delete", "dsr", req.Name, "-n", ns)
	again := &privacyv1alpha1.DataSubjectRequest{}
	again.Namespace, again.Name, again.Spec = ns, req.Name, req.Spec
	if err := suite.env.Client.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	c.waitFor("the request created again to complete", func() (bool, string, error) {
		if err := suite.env.Client.Get(ctx, client.ObjectKeyFromObject(again), again); err != nil {
			return false, "", err
		}
		return again.UID != oldUID && again.Status.Phase == privacyv1alpha1.PhaseCompleted,
			fmt.Sprintf("phase %q, %s", again.Status.Phase, readyMessage(again.Status.Conditions)), nil
	})
	if n := tn.scalar(t, "SELECT count(*) FROM disrupt.changes"); n != changes {
		t.Errorf("the request created again changed %d rows; the first had changed all there was", n-changes)
	}
	if n := tn.scalar(t, "SELECT count(*) FROM lethe.audit_log WHERE object_uid = $1", string(again.UID)); n == 0 {
		t.Error("the request created again left no audit record of having looked")
	}
	tn.verifyAuditChain(t)
}

// finished says whether an object is done with its work, and if not what
// it says.
func finished(o client.Object) (bool, string) {
	switch o := o.(type) {
	case *privacyv1alpha1.TenantDatabase:
		return meta.IsStatusConditionTrue(o.Status.Conditions, privacyv1alpha1.ConditionReady), readyMessage(o.Status.Conditions)
	case *privacyv1alpha1.DataInventory:
		return meta.IsStatusConditionTrue(o.Status.Conditions, privacyv1alpha1.ConditionReady), readyMessage(o.Status.Conditions)
	case *privacyv1alpha1.RetentionPolicy:
		return o.Status.Run != nil && o.Status.Run.Completed, readyMessage(o.Status.Conditions)
	case *privacyv1alpha1.DataSubjectRequest:
		return o.Status.Phase == privacyv1alpha1.PhaseCompleted, string(o.Status.Phase) + ", " + readyMessage(o.Status.Conditions)
	case *privacyv1alpha1.PseudonymizationJob:
		return o.Status.Phase == privacyv1alpha1.JobSucceeded, string(o.Status.Phase) + ", " + readyMessage(o.Status.Conditions)
	}
	return false, "unknown kind"
}

// view is what must come back after a wipe: readiness, and the outcome of
// the work as the tenant databases record it.
func view(t *testing.T, o client.Object) string {
	t.Helper()
	var v any
	switch o := o.(type) {
	case *privacyv1alpha1.TenantDatabase:
		v = meta.IsStatusConditionTrue(o.Status.Conditions, privacyv1alpha1.ConditionReady)
	case *privacyv1alpha1.DataInventory:
		v = meta.IsStatusConditionTrue(o.Status.Conditions, privacyv1alpha1.ConditionReady)
	case *privacyv1alpha1.RetentionPolicy:
		id := ""
		if o.Status.Run != nil {
			id = o.Status.Run.ID
		}
		v = []any{id, o.Status.Targets}
	case *privacyv1alpha1.DataSubjectRequest:
		v = []any{o.Status.Phase, o.Status.Targets}
	case *privacyv1alpha1.PseudonymizationJob:
		v = []any{o.Status.Phase, o.Status.Progress, o.Status.Targets}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wipeStatus empties an object's status through the status subresource.
func wipeStatus(t *testing.T, o client.Object) {
	t.Helper()
	ctx := context.Background()
	if err := suite.env.Client.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
		t.Fatal(err)
	}
	switch o := o.(type) {
	case *privacyv1alpha1.TenantDatabase:
		o.Status = privacyv1alpha1.TenantDatabaseStatus{}
	case *privacyv1alpha1.DataInventory:
		o.Status = privacyv1alpha1.DataInventoryStatus{}
	case *privacyv1alpha1.RetentionPolicy:
		o.Status = privacyv1alpha1.RetentionPolicyStatus{}
	case *privacyv1alpha1.DataSubjectRequest:
		o.Status = privacyv1alpha1.DataSubjectRequestStatus{}
	case *privacyv1alpha1.PseudonymizationJob:
		o.Status = privacyv1alpha1.PseudonymizationJobStatus{}
	}
	if err := suite.env.Client.Status().Update(ctx, o); err != nil {
		t.Fatalf("wipe the status of %s: %v", o.GetName(), err)
	}
}
