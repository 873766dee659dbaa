package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// demoMetrics are the families the demo prints, of the demo's namespace.
var demoMetrics = []string{
	"lethe_requests", "lethe_requests_overdue", "lethe_request_deadline_seconds",
	"lethe_retention_rows_changed_total", "lethe_retention_runs_completed_total", "lethe_retention_batch_duration_seconds_count",
	"lethe_tenant_connected", "lethe_tenant_audit_chain_intact", "lethe_tenant_uncovered_personal_columns",
	"lethe_tenant_pool_connections",
}

// freeLoopbackAddress returns a loopback address with a port nothing
// listens on, for the manager's metrics endpoint.
func freeLoopbackAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// metricsToken creates a ServiceAccount bound to the metrics-reader role
// of config/rbac, as Prometheus would be, and returns a token for it.
func (d *demo) metricsToken(ctx context.Context) (string, error) {
	raw, err := os.ReadFile(filepath.Join(d.env.RepoRoot, "config", "rbac", "metrics_reader_role.yaml"))
	if err != nil {
		return "", err
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(raw, &role); err != nil {
		return "", err
	}
	role.Name = "lethe-metrics-reader"
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "prometheus"}}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-reads-lethe"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: sa.Name}},
	}
	if err := d.env.Client.Create(ctx, &role); err != nil {
		return "", fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
	}
	if err := d.env.Client.Create(ctx, sa); err != nil {
		return "", fmt.Errorf("create ServiceAccount %s: %w", sa.Name, err)
	}
	if err := d.env.Client.Create(ctx, binding); err != nil {
		return "", fmt.Errorf("create ClusterRoleBinding %s: %w", binding.Name, err)
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{}}
	if err := d.env.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", fmt.Errorf("request a token for ServiceAccount %s: %w", sa.Name, err)
	}
	return tr.Status.Token, nil
}

// printMetrics scrapes the manager's metrics endpoint as Prometheus would
// and prints a few lethe_* series of the demo's namespace.
func (d *demo) printMetrics(ctx context.Context) error {
	heading("A few lethe_* series, scraped over HTTPS with a ServiceAccount bound to the metrics-reader role")
	token, err := d.metricsToken(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+d.metricsAddr+"/metrics", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	// The manager serves a self-signed certificate on loopback.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // #nosec G402 -- the demo's own manager on loopback
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	fmt.Printf("GET https://%s/metrics with the token of ServiceAccount %s/prometheus: %s\n\n", d.metricsAddr, namespace, resp.Status)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		name, _, _ := strings.Cut(line, "{")
		if strings.Contains(line, `namespace="`+namespace+`"`) && slices.Contains(demoMetrics, name) {
			fmt.Println(line)
		}
	}
	return sc.Err()
}
