package benchutil

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/hack/localenv"
)

// SampleInventoryFile is the sample application's DataInventory, relative to
// the repository root.
const SampleInventoryFile = "config/samples/privacy_v1alpha1_datainventory.yaml"

// SampleInventory reads the sample application's DataInventory.
func SampleInventory() (*privacyv1alpha1.DataInventory, error) {
	root, err := localenv.FindRepoRoot()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(root, SampleInventoryFile)
	b, err := os.ReadFile(path) // #nosec G304 -- a file of the repository
	if err != nil {
		return nil, err
	}
	var inv privacyv1alpha1.DataInventory
	if err := yaml.UnmarshalStrict(b, &inv); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if inv.Kind != "DataInventory" || inv.Name == "" {
		return nil, fmt.Errorf("%s: not a named DataInventory", path)
	}
	return &inv, nil
}

// TenantNames are n tenant names: tenant-001, tenant-002, ...
func TenantNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("tenant-%03d", i+1)
	}
	return names
}

// TenantDatabase is the TenantDatabase of tenant name in namespace: its
// connection Secret is <name>-db, the named DataInventory maps it.
func TenantDatabase(namespace, name, inventory string) *privacyv1alpha1.TenantDatabase {
	return &privacyv1alpha1.TenantDatabase{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: privacyv1alpha1.TenantDatabaseSpec{
			Tenant: name,
			Connection: privacyv1alpha1.ConnectionSpec{
				SecretRef: privacyv1alpha1.LocalObjectReference{Name: name + "-db"},
			},
			InventoryRef: privacyv1alpha1.LocalObjectReference{Name: inventory},
		},
	}
}

// ReadyTenantDatabases counts the TenantDatabases in namespace that are
// Ready.
func ReadyTenantDatabases(ctx context.Context, c client.Client, namespace string) (int, error) {
	var list privacyv1alpha1.TenantDatabaseList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return 0, err
	}
	ready := 0
	for i := range list.Items {
		if meta.IsStatusConditionTrue(list.Items[i].Status.Conditions, privacyv1alpha1.ConditionReady) {
			ready++
		}
	}
	return ready, nil
}

// Ready reads obj (a DataInventory or a TenantDatabase, by its namespace and
// name) anew and says whether it is Ready. obj itself is not changed.
func Ready(ctx context.Context, c client.Client, obj client.Object) (bool, error) {
	got, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return false, fmt.Errorf("%T is not a client.Object", obj)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
		return false, err
	}
	var conds []metav1.Condition
	switch o := got.(type) {
	case *privacyv1alpha1.DataInventory:
		conds = o.Status.Conditions
	case *privacyv1alpha1.TenantDatabase:
		conds = o.Status.Conditions
	default:
		return false, fmt.Errorf("%T has no Ready condition known to benchutil", obj)
	}
	return meta.IsStatusConditionTrue(conds, privacyv1alpha1.ConditionReady), nil
}
