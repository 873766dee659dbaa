package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// kubeFlags say which cluster, user and namespace, as kubectl's do.
type kubeFlags struct {
	namespace, kubeconfig, context string
}

func (k *kubeFlags) register(fs *flag.FlagSet) {
	for _, n := range []string{"n", "namespace"} {
		fs.StringVar(&k.namespace, n, "", "the namespace (default: the kubeconfig context's)")
	}
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&k.context, "context", "", "the kubeconfig context (default: the current one)")
}

// kubeConfig loads the kubeconfig as kubectl does: --kubeconfig, else
// $KUBECONFIG, else ~/.kube/config; --context; and the namespace, -n or
// the context's.
func kubeConfig(k kubeFlags) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k.kubeconfig != "" {
		rules.ExplicitPath = k.kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: k.context}
	overrides.Context.Namespace = k.namespace
	kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := kc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("load the kubeconfig: %w", err)
	}
	ns, _, err := kc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("load the kubeconfig's namespace: %w", err)
	}
	return cfg, ns, nil
}

// cluster reads and changes Lethe objects and Secrets in one namespace, as
// the kubeconfig's user: every check the API server and the admission
// webhooks make applies to what the command does.
type cluster struct {
	ns   string
	dyn  dynamic.Interface
	core kubernetes.Interface
}

func connect(k kubeFlags) (*cluster, error) {
	cfg, ns, err := kubeConfig(k)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &cluster{ns: ns, dyn: dyn, core: core}, nil
}

// kinds names the resources the command reads, for its messages.
var kinds = map[string]string{
	"tenantdatabases":      "TenantDatabase",
	"datainventories":      "DataInventory",
	"retentionpolicies":    "RetentionPolicy",
	"datasubjectrequests":  "DataSubjectRequest",
	"pseudonymizationjobs": "PseudonymizationJob",
}

// apiError says what an API error means for an object, without the
// machinery: not found in the namespace, or the API server's (or a
// webhook's) own message.
func (c *cluster) apiError(resource, name string, err error) error {
	kind := kinds[resource]
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s %s not found in namespace %s", kind, name, c.ns)
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return fmt.Errorf("%s %s in namespace %s: %s", kind, name, c.ns, status.Status().Message)
	}
	return fmt.Errorf("%s %s in namespace %s: %w", kind, name, c.ns, err)
}

// get reads one Lethe object into a typed value.
func (c *cluster) get(ctx context.Context, resource, name string, into runtime.Object) error {
	u, err := c.dyn.Resource(privacyv1alpha1.GroupVersion.WithResource(resource)).Namespace(c.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return c.apiError(resource, name, err)
	}
	return fromUnstructured(u, into)
}

// list reads every Lethe object of a kind in the namespace into a typed list.
func (c *cluster) list(ctx context.Context, resource string, into runtime.Object) error {
	l, err := c.dyn.Resource(privacyv1alpha1.GroupVersion.WithResource(resource)).Namespace(c.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list %s in namespace %s: %w", resource, c.ns, err)
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(l.UnstructuredContent(), into)
}

// mergePatch changes a Lethe object with a JSON merge patch and reads the
// result into a typed value.
func (c *cluster) mergePatch(ctx context.Context, resource, name string, patch any, into runtime.Object) error {
	raw, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	u, err := c.dyn.Resource(privacyv1alpha1.GroupVersion.WithResource(resource)).Namespace(c.ns).
		Patch(ctx, name, types.MergePatchType, raw, metav1.PatchOptions{FieldManager: "kubectl-lethe"})
	if err != nil {
		return c.apiError(resource, name, err)
	}
	return fromUnstructured(u, into)
}

// secretData reads a Secret's data.
func (c *cluster) secretData(ctx context.Context, name string) (map[string][]byte, error) {
	s, err := c.core.CoreV1().Secrets(c.ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("secret %s not found in namespace %s", name, c.ns)
	case err != nil:
		return nil, fmt.Errorf("read secret %s in namespace %s: %w", name, c.ns, err)
	}
	return s.Data, nil
}

func fromUnstructured(u *unstructured.Unstructured, into runtime.Object) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		return fmt.Errorf("read %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}
