package cli

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// source is the database a draft is made from: its connection settings,
// how to name it in messages (never a credential), and the inventory name
// it suggests.
type source struct {
	conn tenantdb.Connection
	what string
	name string
}

// resolveSource reads the connection settings the flags name: an
// environment variable, or a Secret (named directly or by a
// TenantDatabase) read through the kubeconfig.
func resolveSource(ctx context.Context, o draftOptions, env Env) (source, error) {
	if o.uriEnv != "" {
		uri := env.Getenv(o.uriEnv)
		if uri == "" {
			return source{}, fmt.Errorf("environment variable %s is empty: set it to a postgres:// URI", o.uriEnv)
		}
		return source{conn: tenantdb.Connection{Secret: map[string][]byte{privacyv1alpha1.ConnectionKeyURI: []byte(uri)}},
			what: "the database of $" + o.uriEnv}, nil
	}
	cfg, ns, err := kubeConfig(o)
	if err != nil {
		return source{}, err
	}
	src := source{}
	secretName, tlsSecretName := o.secret, ""
	if o.tenantDatabase != "" {
		tdb, err := getTenantDatabase(ctx, cfg, ns, o.tenantDatabase)
		if err != nil {
			return source{}, err
		}
		c := tdb.Spec.Connection
		secretName = c.SecretRef.Name
		if c.TLSSecretRef != nil {
			tlsSecretName = c.TLSSecretRef.Name
		}
		src.conn = tenantdb.Connection{Host: c.Host, Port: c.Port, Database: c.Database, SSLMode: c.SSLMode}
		src.what = fmt.Sprintf("TenantDatabase %s/%s", ns, tdb.Name)
		src.name = tdb.Spec.InventoryRef.Name
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return source{}, err
	}
	read := func(name string) (map[string][]byte, error) {
		secret, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, fmt.Errorf("secret %s not found in namespace %s", name, ns)
		case err != nil:
			return nil, fmt.Errorf("read secret %s in namespace %s: %w", name, ns, err)
		}
		return secret.Data, nil
	}
	if src.conn.Secret, err = read(secretName); err != nil {
		return source{}, err
	}
	if tlsSecretName != "" {
		if src.conn.TLS, err = read(tlsSecretName); err != nil {
			return source{}, err
		}
	}
	if src.what == "" {
		src.what = fmt.Sprintf("Secret %s/%s", ns, secretName)
	} else {
		src.what += fmt.Sprintf(" (Secret %s)", secretName)
	}
	return src, nil
}

// kubeConfig loads the kubeconfig as kubectl does: --kubeconfig, else
// $KUBECONFIG, else ~/.kube/config; --context; and the namespace, -n or
// the context's.
func kubeConfig(o draftOptions) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.kubeconfig != "" {
		rules.ExplicitPath = o.kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.context}
	overrides.Context.Namespace = o.namespace
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

// getTenantDatabase reads a TenantDatabase.
func getTenantDatabase(ctx context.Context, cfg *rest.Config, ns, name string) (*privacyv1alpha1.TenantDatabase, error) {
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	gvr := privacyv1alpha1.GroupVersion.WithResource("tenantdatabases")
	u, err := dc.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("TenantDatabase %s not found in namespace %s", name, ns)
	case err != nil:
		return nil, fmt.Errorf("read TenantDatabase %s in namespace %s: %w", name, ns, err)
	}
	var tdb privacyv1alpha1.TenantDatabase
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &tdb); err != nil {
		return nil, fmt.Errorf("read TenantDatabase %s in namespace %s: %w", name, ns, err)
	}
	return &tdb, nil
}
