package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// access is one question to the API server's authorizer: may the manager's
// ServiceAccount do verb on resource (in namespace; "" is every namespace,
// or a cluster-scoped resource)?
type access struct {
	verb, group, resource, subresource, namespace, name string
	allowed                                             bool
}

// TestChartRBAC renders the chart with helm, once cluster-wide and once for
// a list of namespaces, applies its ServiceAccount, roles and bindings to a
// real API server, and asks SubjectAccessReviews as the manager's
// ServiceAccount what it may do: kubectl auth can-i, through the API.
func TestChartRBAC(t *testing.T) {
	helm := helmBinary(t)
	cfg := startRBACEnv(t)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("cluster-wide", func(t *testing.T) {
		sa := installChart(ctx, t, c, helm, "lethe", "lethe-system")
		checkAccess(ctx, t, c, sa, []access{
			{verb: "get", resource: "secrets", namespace: "tenants-a", allowed: true},
			{verb: "list", resource: "secrets", allowed: true}, // the metadata watch of every namespace's Secrets
			{verb: "create", resource: "secrets", namespace: "tenants-a", allowed: true},
			{verb: "list", group: "privacy.lethe.dev", resource: "tenantdatabases", allowed: true},
			{verb: "create", group: "privacy.lethe.dev", resource: "tenantdatabases", namespace: "tenants-a"},
			{verb: "patch", group: "privacy.lethe.dev", resource: "tenantdatabases", subresource: "status", namespace: "tenants-a", allowed: true},
			{verb: "create", resource: "pods", namespace: "kube-system"},
			{verb: "delete", resource: "namespaces", name: "kube-system"},
			{verb: "update", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
			{verb: "create", group: "rbac.authorization.k8s.io", resource: "rolebindings", namespace: "tenants-a"},
			// Who scrapes the metrics, and whether they may.
			{verb: "create", group: "authentication.k8s.io", resource: "tokenreviews", allowed: true},
			{verb: "create", group: "authorization.k8s.io", resource: "subjectaccessreviews", allowed: true},
		})
	})

	t.Run("namespaced", func(t *testing.T) {
		sa := installChart(ctx, t, c, helm, "lethe-ns", "lethe-ns-system", "--set", "watchNamespaces={tenants-a,tenants-b}")
		webhookSecret := "lethe-ns-webhook-cert" // #nosec G101 -- a Secret's name
		checkAccess(ctx, t, c, sa, []access{
			// The watched namespaces: the connection Secrets it is pointed
			// at, the Secrets it writes (exports, job keys, the subject
			// salt), its objects and events.
			{verb: "get", resource: "secrets", namespace: "tenants-a", allowed: true},
			{verb: "list", resource: "secrets", namespace: "tenants-b", allowed: true},
			{verb: "watch", resource: "secrets", namespace: "tenants-b", allowed: true},
			{verb: "create", resource: "secrets", namespace: "tenants-a", allowed: true},
			{verb: "delete", resource: "secrets", namespace: "tenants-b", allowed: true},
			{verb: "list", group: "privacy.lethe.dev", resource: "tenantdatabases", namespace: "tenants-a", allowed: true},
			{verb: "patch", group: "privacy.lethe.dev", resource: "datasubjectrequests", subresource: "status", namespace: "tenants-b", allowed: true},
			{verb: "create", group: "events.k8s.io", resource: "events", namespace: "tenants-a", allowed: true},
			// No Secret, object or event anywhere else.
			{verb: "list", resource: "secrets"},
			{verb: "watch", resource: "secrets"},
			{verb: "get", resource: "secrets", namespace: "kube-system"},
			{verb: "list", resource: "secrets", namespace: "kube-system"},
			{verb: "get", resource: "secrets", namespace: "default"},
			{verb: "create", resource: "secrets", namespace: "default"},
			{verb: "list", group: "privacy.lethe.dev", resource: "tenantdatabases"},
			{verb: "list", group: "privacy.lethe.dev", resource: "tenantdatabases", namespace: "default"},
			{verb: "create", group: "events.k8s.io", resource: "events", namespace: "default"},
			{verb: "list", resource: "configmaps", namespace: "kube-system"},
			// Its own namespace: the leader lease and the webhook
			// certificate, which it may change and no other Secret.
			{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: "lethe-ns-system", allowed: true},
			{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: "tenants-a"},
			{verb: "list", resource: "secrets", namespace: "lethe-ns-system", allowed: true},
			{verb: "update", resource: "secrets", namespace: "lethe-ns-system", name: webhookSecret, allowed: true},
			{verb: "update", resource: "secrets", namespace: "lethe-ns-system", name: "another"},
			{verb: "delete", resource: "secrets", namespace: "lethe-ns-system", name: webhookSecret},
			// Cluster-scoped: what the webhooks need, nothing more.
			{verb: "get", resource: "namespaces", name: "tenants-a", allowed: true},
			{verb: "list", resource: "namespaces"},
			{verb: "update", group: "admissionregistration.k8s.io", resource: "validatingwebhookconfigurations", allowed: true},
			{verb: "create", group: "authorization.k8s.io", resource: "subjectaccessreviews", allowed: true},
			{verb: "create", group: "authentication.k8s.io", resource: "tokenreviews", allowed: true},
			{verb: "update", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
		})

		// The manager's cache, as the ServiceAccount, restricted as
		// --watch-namespaces restricts it: every informer the controllers
		// start syncs with these rights alone.
		namespaces, err := watchedNamespaces("tenants-a,tenants-b")
		if err != nil {
			t.Fatal(err)
		}
		syncManagerCache(t, cfg, sa, namespaces)
	})
}

// syncManagerCache starts, as the ServiceAccount sa, a cache holding the
// namespaces given, with an informer for every kind the controllers watch
// (Secrets and ConfigMaps by metadata only, as they do), and waits until
// all have listed their objects.
func syncManagerCache(t *testing.T, cfg *rest.Config, sa string, namespaces map[string]cache.Config) {
	t.Helper()
	ns, name, _ := strings.Cut(sa, "/")
	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(privacyv1alpha1.AddToScheme(scheme))
	c, err := cache.New(as, cache.Options{Scheme: scheme, DefaultNamespaces: namespaces})
	if err != nil {
		t.Fatal(err)
	}
	// Bounds a failure (an informer forbidden to list retries forever), not
	// a speed.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	metadata := func(kind string) client.Object {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
		return m
	}
	kinds := []client.Object{metadata("Secret"), metadata("ConfigMap"),
		&privacyv1alpha1.TenantDatabase{}, &privacyv1alpha1.DataInventory{}, &privacyv1alpha1.DataSubjectRequest{},
		&privacyv1alpha1.RetentionPolicy{}, &privacyv1alpha1.PseudonymizationJob{}, &privacyv1alpha1.PermissionCatalog{},
		&privacyv1alpha1.Role{}}
	for _, k := range kinds {
		if _, err := c.GetInformer(ctx, k); err != nil {
			t.Fatalf("informer for %T: %v", k, err)
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatalf("the manager's cache did not sync as %s in namespaces %v: a watch is forbidden", sa, namespaces)
	}
}

// helmBinary finds the helm of bin/tools (make helm-check installs it).
func helmBinary(t *testing.T) string {
	t.Helper()
	found, _ := filepath.Glob(filepath.Join("bin", "tools", "helm-*"))
	if len(found) == 0 {
		t.Fatal("no helm in bin/tools: run `make helm-check`")
	}
	return found[len(found)-1]
}

// startRBACEnv starts an API server (envtest authorizes with RBAC).
func startRBACEnv(t *testing.T) *rest.Config {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		dirs, _ := filepath.Glob(filepath.Join("bin", "k8s", "*"))
		if len(dirs) == 0 {
			t.Fatal("no envtest binaries: run `make envtest` or set KUBEBUILDER_ASSETS")
		}
		t.Setenv("KUBEBUILDER_ASSETS", dirs[len(dirs)-1])
	}
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	return cfg
}

// installChart renders the chart as helm install would, creates the
// namespaces it needs, and applies its ServiceAccount, roles and bindings.
// It returns the manager's ServiceAccount, namespace/name.
func installChart(ctx context.Context, t *testing.T, c client.Client, helm, release, namespace string, args ...string) string {
	t.Helper()
	cmd := exec.Command(helm, append([]string{"template", release, filepath.Join("charts", "lethe"), "--namespace", namespace}, args...)...) // #nosec G204 -- the repository's helm, the test's arguments
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v: %s", err, stderr.String())
	}
	for _, ns := range []string{namespace, "tenants-a", "tenants-b"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
			t.Fatal(err)
		}
	}
	sa := ""
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch obj.GetKind() {
		case "ServiceAccount":
			sa = obj.GetNamespace() + "/" + obj.GetName()
		case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
		default:
			continue
		}
		if err := c.Create(ctx, &obj); err != nil {
			t.Fatalf("apply %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
	if sa == "" {
		t.Fatal("the chart renders no ServiceAccount")
	}
	return sa
}

// checkAccess asks, for each access, a SubjectAccessReview as the
// ServiceAccount sa (namespace/name) with its groups.
func checkAccess(ctx context.Context, t *testing.T, c client.Client, sa string, want []access) {
	t.Helper()
	ns, name, _ := strings.Cut(sa, "/")
	for _, a := range want {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   "system:serviceaccount:" + ns + ":" + name,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: a.verb, Group: a.group, Resource: a.resource,
				Subresource: a.subresource, Namespace: a.namespace, Name: a.name},
		}}
		if err := c.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != a.allowed {
			t.Errorf("%s may %s %s/%s %s in namespace %q (name %q): %v, want %v (%s)", sa, a.verb, a.group, a.resource, a.subresource,
				a.namespace, a.name, sar.Status.Allowed, a.allowed, sar.Status.Reason)
		}
	}
}
