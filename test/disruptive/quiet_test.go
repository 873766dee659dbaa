package disruptive

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// quietFor is how long finished objects are watched for work that nothing
// asked for.
const quietFor = 2 * time.Minute

// metricsArgs serve the manager's metrics in plain HTTP on a free loopback
// port, and return its address.
func metricsArgs(t *testing.T) (args []string, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	_ = l.Close()
	return []string{"--metrics-bind-address=" + addr, "--metrics-secure=false"}, addr
}

// reconciles reads controller_runtime_reconcile_total from the manager's
// metrics, summed per controller.
func reconciles(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("read the manager's metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "controller_runtime_reconcile_total{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `controller="`)
		name, _, _ := strings.Cut(rest, `"`)
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[name] += v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// resourceVersions maps each object to its resourceVersion.
func resourceVersions(t *testing.T, objects []client.Object) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range objects {
		if err := suite.env.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("%T %s", o, o.GetName())] = o.GetResourceVersion()
	}
	return out
}

// checkQuiet watches finished objects for quietFor: none of them may
// change (no status write that says nothing new), and the manager may
// reconcile no more than the resync asks for (none within quietFor, as it
// is shorter than the resync interval; one per object is allowed for a
// resync or a requeue under way when the watch began).
func checkQuiet(t *testing.T, addr string, objects []client.Object) {
	t.Helper()
	rv := resourceVersions(t, objects)
	before := reconciles(t, addr)
	sleep(context.Background(), quietFor)
	after := reconciles(t, addr)
	for k, v := range resourceVersions(t, objects) {
		if v != rv[k] {
			t.Errorf("%s changed while nothing was asked of it (resourceVersion %s, then %s)", k, rv[k], v)
		}
	}
	var total float64
	for name, n := range after {
		if d := n - before[name]; d > 0 {
			t.Logf("%s: %.0f reconciles in %s", name, d, quietFor)
			total += d
		}
	}
	if total > float64(len(objects)) {
		t.Errorf("%.0f reconciles of %d finished objects in %s: a hot loop", total, len(objects), quietFor)
	}
}
