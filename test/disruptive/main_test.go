// Package disruptive proves that Lethe's runs survive faults. It starts a
// real Kubernetes API server and a real PostgreSQL (hack/localenv), runs the
// manager built from this repository as a child process, and kill -9s it at
// random points of a retention run and of a Delete erasure over the Edge
// schema (a monthly-partitioned table keyed by (paid_at, id)), restarting it
// each time; it crashes and freezes PostgreSQL and kills the API server
// mid-run, runs two managers at once, and wipes the status of finished
// objects. Triggers record every UPDATE
// and DELETE of every Edge row, so "every row changed exactly once" is
// checked row by row, against the ledger, the audit log (whose hash chain
// must verify) and the objects' status.
//
// The kill points come from a seeded random source: the seed is printed,
// and LETHE_DISRUPTIVE_SEED replays it. LETHE_DISRUPTIVE_KEEP=1 keeps the
// work directory (kubeconfig, manager, API server and PostgreSQL logs).
//
//	go test ./test/disruptive/ -v
package disruptive

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lethe-dev/lethe/hack/localenv"
)

// suite is what TestMain sets up once for every test of the package.
var suite struct {
	env *localenv.Env
	// manager is the manager binary built from this repository.
	manager string
	seed    uint64
}

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) (code int) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("disruptive: skipped in -short mode: it starts an API server and PostgreSQL and kills the manager")
		return 0
	}
	seed, err := seedFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "disruptive:", err)
		return 1
	}
	suite.seed = seed
	fmt.Printf("disruptive: seed %d (replay with LETHE_DISRUPTIVE_SEED=%d)\n", seed, seed)

	dir, err := os.MkdirTemp("", "lethe-disruptive-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "disruptive:", err)
		return 1
	}
	defer func() {
		if os.Getenv("LETHE_DISRUPTIVE_KEEP") == "1" {
			fmt.Printf("disruptive: work directory kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := localenv.FindRepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "disruptive:", err)
		return 1
	}
	suite.manager = filepath.Join(dir, "manager")
	if err := buildManager(ctx, root, suite.manager); err != nil {
		fmt.Fprintln(os.Stderr, "disruptive:", err)
		return 1
	}
	env, err := localenv.Start(ctx, localenv.Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "disruptive:", err)
		return 1
	}
	suite.env = env
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "disruptive: stop:", err)
			if code == 0 {
				code = 1
			}
		}
	}()
	return m.Run()
}

// seedFromEnv is LETHE_DISRUPTIVE_SEED, or a new seed.
func seedFromEnv() (uint64, error) {
	if s := os.Getenv("LETHE_DISRUPTIVE_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("LETHE_DISRUPTIVE_SEED=%q is not an unsigned integer", s)
		}
		return seed, nil
	}
	return uint64(time.Now().UnixNano()), nil // #nosec G115 -- a seed, any bits do
}

// buildManager builds the manager from the repository at root into bin, so
// the process killed is the code under test.
func buildManager(ctx context.Context, root, bin string) error {
	goBin, err := exec.LookPath("go")
	if err != nil && os.Getenv("GOROOT") != "" {
		goBin, err = filepath.Join(os.Getenv("GOROOT"), "bin", "go"), nil
	}
	if err != nil {
		return fmt.Errorf("build the manager: the go command is not on PATH and GOROOT is not set: %w", err)
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".") // #nosec G204 G702 -- the go tool, from PATH or GOROOT, on our own module
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.Join(fmt.Errorf("build the manager: %w", err), errors.New(string(out)))
	}
	return nil
}
