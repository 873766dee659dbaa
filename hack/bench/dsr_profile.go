package main

// Where the time of the dsr scenario's API figure goes: the CPU time of each
// process, a sampled profile of the manager's PostgreSQL sessions, and the
// API server's requests by kind.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/client-go/discovery"

	"github.com/lethe-dev/lethe/hack/localenv"
	"github.com/lethe-dev/lethe/internal/testutil/pgtest"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc (100 on Linux).
const clockTicks = 100

// procCPU is one process's CPU time so far and the group it is counted in.
type procCPU struct {
	group string
	ticks int64
}

// processCPU reads the CPU time (user and system) of this process and all
// its descendants, grouped: the manager (and its children), PostgreSQL (the
// server and its backends), kube-apiserver, etcd, and this benchmark.
func processCPU(managerPid int) map[int]procCPU {
	type proc struct {
		ppid  int
		comm  string
		ticks int64
	}
	procs := map[int]proc{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")) // #nosec G304 -- /proc
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ... utime stime ...": comm may hold spaces.
		open, closing := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if open < 0 || closing < open {
			continue
		}
		f := strings.Fields(string(b[closing+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid: ppid, comm: string(b[open+1 : closing]), ticks: utime + stime}
	}
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	out := map[int]procCPU{}
	var walk func(pid int, group string)
	walk = func(pid int, group string) {
		p := procs[pid]
		switch {
		case pid == os.Getpid():
			group = "benchmark (creating, watching)"
		case pid == managerPid:
			group = "manager"
		case group == "" || group == "benchmark (creating, watching)":
			group = p.comm
		}
		out[pid] = procCPU{group: group, ticks: p.ticks}
		for _, c := range children[pid] {
			walk(c, group)
		}
	}
	walk(os.Getpid(), "")
	return out
}

// cpuUsed is the CPU time used per group between two readings; processes
// that ended in between are not counted.
func cpuUsed(before, after map[int]procCPU) map[string]time.Duration {
	used := map[string]time.Duration{}
	for pid, a := range after {
		d := a.ticks - before[pid].ticks
		if d < 0 {
			d = a.ticks // the pid was reused
		}
		used[a.group] += time.Duration(d) * time.Second / clockTicks
	}
	return used
}

// sessionSampler samples pg_stat_activity for the manager's sessions (its
// application_name) every sessionSampleInterval: a profile of the database
// side by state, statement kind of the active sessions, and wait event.
type sessionSampler struct {
	cancel  context.CancelFunc
	done    chan struct{}
	samples int
	counts  map[string]int
}

const sessionSampleInterval = 20 * time.Millisecond

func startSessionSampler(ctx context.Context, srv *pgtest.Server) (*sessionSampler, error) {
	conn, err := pgx.Connect(ctx, srv.AdminDSN("postgres"))
	if err != nil {
		return nil, fmt.Errorf("connect the session sampler: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &sessionSampler{cancel: cancel, done: make(chan struct{}), counts: map[string]int{}}
	go func() {
		defer close(s.done)
		defer func() { _ = conn.Close(context.Background()) }()
		tick := time.NewTicker(sessionSampleInterval)
		defer tick.Stop()
		for {
			rows, err := conn.Query(ctx, `SELECT coalesce(state, 'unknown'), coalesce(wait_event_type || '/' || wait_event, ''), query
				FROM pg_catalog.pg_stat_activity WHERE application_name = 'lethe-operator'`)
			if err == nil {
				type session struct{ state, wait, query string }
				var sessions []session
				sessions, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (session, error) {
					var x session
					err := row.Scan(&x.state, &x.wait, &x.query)
					return x, err
				})
				if err == nil {
					s.samples++
					for _, x := range sessions {
						if x.state != "active" {
							s.counts[x.state]++
							continue
						}
						s.counts["active: "+statementKind(x.query)]++
						if x.wait != "" {
							s.counts["waiting: "+x.wait]++
						}
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return s, nil
}

// stop ends the sampling and returns the mean number of sessions per state.
func (s *sessionSampler) stop() map[string]float64 {
	s.cancel()
	<-s.done
	out := map[string]float64{}
	if s.samples == 0 {
		return out
	}
	for st, n := range s.counts {
		out[st] = float64(n) / float64(s.samples)
	}
	return out
}

// apiStat is how many requests of one kind the API server served and how
// long they took in total.
type apiStat struct {
	count, seconds float64
}

var metricLabel = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// apiServerRequests reads the API server's apiserver_request_duration_seconds
// histogram, by "VERB resource[/subresource]".
func apiServerRequests(ctx context.Context, env *localenv.Env) (map[string]apiStat, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		return nil, err
	}
	raw, err := dc.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("API server metrics: %w", err)
	}
	out := map[string]apiStat{}
	for _, line := range strings.Split(string(raw), "\n") {
		const name = "apiserver_request_duration_seconds_"
		rest, ok := strings.CutPrefix(line, name)
		if !ok {
			continue
		}
		isSum, isCount := strings.HasPrefix(rest, "sum{"), strings.HasPrefix(rest, "count{")
		end := strings.LastIndexByte(rest, '}')
		if !isSum && !isCount || end < 0 {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest[end+1:]), 64)
		if err != nil {
			continue
		}
		labels := map[string]string{}
		for _, m := range metricLabel.FindAllStringSubmatch(rest[:end], -1) {
			labels[m[1]] = m[2]
		}
		if labels["resource"] == "" {
			continue
		}
		key := labels["verb"] + " " + labels["resource"]
		if sub := labels["subresource"]; sub != "" {
			key += "/" + sub
		}
		st := out[key]
		if isSum {
			st.seconds += v
		} else {
			st.count += v
		}
		out[key] = st
	}
	return out, nil
}
