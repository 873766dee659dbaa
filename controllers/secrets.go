package controllers

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// indexSecretNames maps a Secret to the requests, jobs and policies that
// name it in their specs.
const indexSecretNames = ".spec.secretNames"

// secretNames lists the Secrets an object names in its spec: a request's
// identifiers and rectification values, a job's key and identifier, a
// policy's Hash keys, an inventory's Hash keys. The manager watches Secrets
// by metadata only, and an object waiting for one of them, or stalled on
// its content, is looked at again when it changes.
func secretNames(o client.Object) []string {
	var names []string
	key := func(ref *privacyv1alpha1.SecretKeyReference) {
		if ref != nil {
			names = append(names, ref.Name)
		}
	}
	switch obj := o.(type) {
	case *privacyv1alpha1.DataSubjectRequest:
		if ref := obj.Spec.Subject.IdentifiersSecretRef; ref != nil {
			names = append(names, ref.Name)
		}
		if r := obj.Spec.Rectification; r != nil {
			names = append(names, r.ValuesSecretRef.Name)
		}
	case *privacyv1alpha1.PseudonymizationJob:
		key(obj.Spec.Pseudonym.KeySecretRef)
		if s := obj.Spec.Subject; s != nil {
			key(s.IdentifierSecretRef)
		}
	case *privacyv1alpha1.RetentionPolicy:
		for _, rule := range obj.Spec.Rules {
			for _, f := range rule.Fields {
				key(f.Strategy.KeySecretRef)
			}
		}
	case *privacyv1alpha1.DataInventory:
		for _, u := range inventoryHashKeys(&obj.Spec) {
			key(u.ref)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// indexSecrets registers indexSecretNames on a kind.
func indexSecrets(mgr ctrl.Manager, obj client.Object) error {
	return mgr.GetFieldIndexer().IndexField(context.Background(), obj, indexSecretNames, secretNames)
}

// secretWaiters maps a Secret to the objects of one kind that may wait for
// it: those that name it (list lists them by indexSecretNames in the
// Secret's namespace, leaving out those finished), and those whose targets
// use a DataInventory that names it as a Hash key (through targets, as
// targeting maps an inventory).
func secretWaiters(c client.Client, list func(ctx context.Context, namespace, secret string) ([]types.NamespacedName, error),
	targets func(ctx context.Context, namespace string) (map[types.NamespacedName]privacyv1alpha1.Targets, error)) handler.MapFunc {
	viaInventory := targeting(c, targets)
	return func(ctx context.Context, s client.Object) []reconcile.Request {
		keys, err := list(ctx, s.GetNamespace(), s.GetName())
		if err != nil {
			logf.FromContext(ctx).Error(err, "cannot list the objects that name a secret", "secret", s.GetName())
			return nil
		}
		var out []reconcile.Request
		for _, k := range keys {
			out = append(out, reconcile.Request{NamespacedName: k})
		}
		var invs privacyv1alpha1.DataInventoryList
		if err := c.List(ctx, &invs, client.InNamespace(s.GetNamespace())); err != nil {
			logf.FromContext(ctx).Error(err, "cannot list data inventories")
			return out
		}
		for i := range invs.Items {
			if slices.Contains(secretNames(&invs.Items[i]), s.GetName()) {
				out = append(out, viaInventory(ctx, &invs.Items[i])...)
			}
		}
		return out
	}
}

// secretVersions sums the Secrets an object depends on, by their
// resourceVersion (read from the manager's metadata cache): those it names
// and those its targets' inventories name. A stalled object is tried again
// when one changes (fingerprint).
func secretVersions(ctx context.Context, c client.Reader, obj client.Object, invs []*privacyv1alpha1.DataInventory) []string {
	names := secretNames(obj)
	for _, inv := range invs {
		names = append(names, secretNames(inv)...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]string, 0, len(names))
	for _, n := range names {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		v := "absent"
		if err := c.Get(ctx, types.NamespacedName{Namespace: obj.GetNamespace(), Name: n}, m); err == nil {
			v = m.ResourceVersion
		}
		out = append(out, "secret/"+n+"/"+v)
	}
	return out
}
