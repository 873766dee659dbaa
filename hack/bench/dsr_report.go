package main

// The dsr scenario's results file, dsr.txt.

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/lethe-dev/lethe/hack/internal/benchutil"
	"github.com/lethe-dev/lethe/hack/localenv"
)

// formatDSRReport is dsr.txt: the header, the engine figures (the sample
// schema, then the partitioned Edge schema), the API figure with where its
// time goes, and notes on reading them.
func formatDSRReport(cfg dsrConfig, started time.Time, load [2]string, v localenv.Versions, eng engineResult, edge edgeResult, api []apiRun) string {
	r := benchutil.NewReport("dsr", started)
	r.Printf("load:        1-minute load average %s at the start, %s at the end (other work on the machine\n", load[0], load[1])
	r.Printf("             shares its cores with the benchmark)\n")
	r.Versions(v, "local, default durability settings: every commit is flushed to disk")
	r.Printf("runs:        %d\n\n", cfg.runs)
	writeEngineFigures(r, cfg, eng)
	writeEdgeFigure(r, cfg, edge)
	writeAPIFigure(r, cfg, api)
	writeAPIProfile(r, cfg, api)
	writeDSRNotes(r, cfg, api)
	return r.String()
}

// writeEngineFigures writes the engine figures and where their time goes.
func writeEngineFigures(rep *benchutil.Report, cfg dsrConfig, eng engineResult) {
	w := rep.Printf
	w("Engine: internal/dsr.Execute on one tenant database, as the controller calls it per target\n\n")
	w("database:    sample application (config/samples DataInventory), %d customers, seed 1:\n", cfg.subjects)
	w("             %d rows in %d tables (loaded in %.0f s, then vacuumed and checkpointed in %.0f s),\n", eng.rows, eng.tables,
		eng.loadTime.Seconds(), eng.settleTime.Seconds())
	w("             lethe schema migrated;\n")
	w("             one pool of %d connections (the TenantDatabase default), one request at a time\n", poolConns)
	w("subjects:    %d customers per figure and run, spread over the id range; access and erasure\n", cfg.samples)
	w("             use different customers, and every run new ones (all runs in the same database);\n")
	w("             %d warm-up requests before the first run are not counted\n", min(warmups, cfg.samples))
	w("access:      dsr.Execute(Access): catalog read, inventory check, subject rows found through the\n")
	w("             relations, every row read as JSON, one audit record; then export.Build (zip with\n")
	w("             the JSON document, one CSV per entity and the manifest)\n")
	w("erasure:     dsr.Execute(Erasure, method Anonymize): catalog read, inventory check, rows found,\n")
	w("             plan recorded, pseudonym number, one masking or delete batch per entity, each\n")
	w("             committed with its ledger row and audit record, completion recorded; not the\n")
	w("             verification re-scan (timed apart for %d erased customers per run)\n\n", cfg.verifySamples)

	t := rep.TargetTable(34)
	n := len(eng.runs)
	accP50, accP99 := make([]float64, n), make([]float64, n)
	eraP50, eraP99 := make([]float64, n), make([]float64, n)
	verP50 := make([]float64, 0, n)
	var exported, found, changed int64
	unverified := 0
	for i, r := range eng.runs {
		accP50[i], accP99[i] = benchutil.Percentile(r.access, 50), benchutil.Percentile(r.access, 99)
		eraP50[i], eraP99[i] = benchutil.Percentile(r.erasure, 50), benchutil.Percentile(r.erasure, 99)
		if len(r.verify) > 0 {
			verP50 = append(verP50, benchutil.Percentile(r.verify, 50))
		}
		exported, found, changed = exported+r.exported, found+r.found, changed+r.changed
		unverified += r.unverified
	}
	t.Info("access export p50 (ms)", accP50)
	t.AtMost("access export p99 (ms)", accP99, benchutil.Ms(targetExportP99), "ms")
	t.Info("engine erasure p50 (ms)", eraP50)
	t.AtMost("engine erasure p99 (ms)", eraP99, benchutil.Ms(targetErasureP99), "ms")
	if len(verP50) > 0 {
		t.Info("erasure verification scan p50 (ms)", verP50)
	}
	measured := float64(cfg.samples * n)
	w("\nper subject (mean): access exported %.1f rows; erasure found %.1f rows and changed %.1f\n",
		float64(exported)/measured, float64(found)/measured, float64(changed)/measured)
	if cfg.verifySamples > 0 {
		w("verification: %d of %d erased customers re-scanned; %d with identifiers left\n",
			cfg.verifySamples*n-unverified, cfg.verifySamples*n, unverified)
	}
	w("\nper run (p50 / p99 / max, ms):\n")
	for i, r := range eng.runs {
		w("  run %d: access export %.2f / %.2f / %.2f; engine erasure %.2f / %.2f / %.2f",
			i+1, benchutil.Percentile(r.access, 50), benchutil.Percentile(r.access, 99), benchutil.Percentile(r.access, 100),
			benchutil.Percentile(r.erasure, 50), benchutil.Percentile(r.erasure, 99), benchutil.Percentile(r.erasure, 100))
		if len(r.verify) > 0 {
			w("; verification scan p50 %.0f", benchutil.Percentile(r.verify, 50))
		}
		w("\n")
	}

	var accessWall, erasureWall float64
	for _, r := range eng.runs {
		for _, v := range r.access {
			accessWall += v
		}
		for _, v := range r.erasure {
			erasureWall += v
		}
	}
	if eng.trace != nil && accessWall > 0 && erasureWall > 0 {
		w("\nwhere the engine time goes (all runs; time per statement until its rows are read; one round\n")
		w("trip, SELECT 1 on the same pool, takes %.3f ms at the median):\n", eng.roundTrip)
		w("  access export, %.2f ms per request on average:\n", accessWall/measured)
		for _, l := range eng.trace.breakdown("access", cfg.samples*n, accessWall) {
			w("    %s\n", l)
		}
		w("  engine erasure, %.2f ms per request on average:\n", erasureWall/measured)
		for _, l := range eng.trace.breakdown("erasure", cfg.samples*n, erasureWall) {
			w("    %s\n", l)
		}
	}

}

// writeAPIFigure writes the API figure.
func writeAPIFigure(rep *benchutil.Report, cfg dsrConfig, api []apiRun) {
	w := rep.Printf
	w("\nAPI: DataSubjectRequests through the API server and the manager\n\n")
	names := make([]string, len(apiTenants))
	for i, t := range apiTenants {
		names[i] = fmt.Sprintf("%s (seed %d)", t.name, t.seed)
	}
	w("scenario:    %d Erasure requests created at once (%d goroutines) in one namespace, each approved\n", cfg.requests, apiWorkers)
	w("             at creation, about a different customer of %s by inline e-mail, targeting two\n", apiTenants[0].name)
	w("             TenantDatabases: %s, sample application with %d customers each\n", strings.Join(names, " and "), max(apiCustomers, cfg.requests))
	w("             (the customer is found in the first only); one DataInventory; timed from the first\n")
	w("             create until all report phase Completed (seen through one watch); manager already\n")
	w("             running (DataInventory and both TenantDatabases Ready), flags: %s;\n", benchutil.ManagerFlags(cfg.managerArgs))
	w("             each run in a fresh environment (PostgreSQL max_connections=%d)\n\n", apiMaxConnections)
	t := rep.TargetTable(34)
	secs, created, mibs := make([]float64, len(api)), make([]float64, len(api)), make([]float64, len(api))
	for i, r := range api {
		secs[i], created[i], mibs[i] = r.completed.Seconds(), r.created.Seconds(), benchutil.MiB(r.rss)
	}
	t.Below(fmt.Sprintf("time to all %d Completed (s)", cfg.requests), secs, targetRequests.Seconds(), "s")
	t.Info("of which creating them (s)", created)
	t.Info("manager peak RSS (MiB)", mibs)
	_, med, _ := benchutil.Stats(secs)
	w("\nmedian time per request:    %.1f ms (%d requests, 2 targets each)\n", 1000*med/float64(cfg.requests), cfg.requests)
	w("\nper run:\n")
	for i, r := range api {
		w("  run %d: %.2f s (created in %.2f s), %.1f MiB; %d/%d Verified, %d rows changed\n", i+1,
			r.completed.Seconds(), r.created.Seconds(), benchutil.MiB(r.rss), r.verified, cfg.requests, r.changed)
	}

}

// writeAPIProfile writes where the API figure's time goes: completions over
// time, the manager's PostgreSQL sessions, the API server's requests and the
// CPU time of each process.
func writeAPIProfile(rep *benchutil.Report, cfg dsrConfig, api []apiRun) {
	w := rep.Printf
	w("\ncompletions over time (first seen Completed through the watch):\n")
	for i, r := range api {
		at := func(q float64) float64 {
			if len(r.done) == 0 {
				return 0
			}
			return r.done[min(len(r.done)-1, max(0, int(math.Ceil(q*float64(len(r.done))))-1))].Seconds()
		}
		w("  run %d: first %.2f s, 10%% %.2f s, 50%% %.2f s, 90%% %.2f s, all %.2f s; steady rate %.1f requests/s\n",
			i+1, at(0), at(0.1), at(0.5), at(0.9), at(1), 0.8*float64(len(r.done))/max(at(0.9)-at(0.1), 1e-9))
	}
	w("\nmanager's PostgreSQL sessions (pg_stat_activity sampled every %s; mean number in each state):\n",
		sessionSampleInterval)
	for i, r := range api {
		w("  run %d:\n", i+1)
		for _, prefix := range []string{"active: ", "waiting: ", ""} {
			states := make([]string, 0, len(r.sessions))
			var sum float64
			for st, v := range r.sessions {
				p := ""
				if strings.HasPrefix(st, "active: ") || strings.HasPrefix(st, "waiting: ") {
					p = st[:strings.Index(st, " ")+1]
				}
				if p == prefix {
					states = append(states, st)
					sum += v
				}
			}
			sort.Slice(states, func(a, b int) bool { return r.sessions[states[a]] > r.sessions[states[b]] })
			parts := make([]string, 0, len(states))
			for _, st := range states {
				if r.sessions[st] >= 0.005 {
					parts = append(parts, fmt.Sprintf("%s %.2f", strings.TrimPrefix(st, prefix), r.sessions[st]))
				}
			}
			switch prefix {
			case "active: ":
				w("    active %.2f: %s\n", sum, strings.Join(parts, ", "))
			case "waiting: ":
				w("    of which waiting %.2f: %s\n", sum, strings.Join(parts, ", "))
			default:
				w("    not active: %s\n", strings.Join(parts, ", "))
			}
		}
	}

	w("\nAPI server requests during the measurement (apiserver_request_duration_seconds; per\n")
	w("DataSubjectRequest, total seconds, mean ms; the ten kinds that took longest):\n")
	for i, r := range api {
		keys := make([]string, 0, len(r.apiserver))
		for k := range r.apiserver {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(a, b int) bool { return r.apiserver[keys[a]].seconds > r.apiserver[keys[b]].seconds })
		w("  run %d:\n", i+1)
		for j, k := range keys {
			if j == 10 {
				break
			}
			st := r.apiserver[k]
			w("    %7.2f %8.1f s %8.2f ms  %s\n", st.count/float64(cfg.requests), st.seconds, 1000*st.seconds/st.count, k)
		}
	}

	w("\nCPU time during the measurement (s; user + system, the process and its children):\n")
	for i, r := range api {
		groups := make([]string, 0, len(r.cpu))
		var total time.Duration
		for g, d := range r.cpu {
			groups = append(groups, g)
			total += d
		}
		sort.Slice(groups, func(a, b int) bool { return r.cpu[groups[a]] > r.cpu[groups[b]] })
		parts := make([]string, 0, len(groups))
		for _, g := range groups {
			if r.cpu[g] >= 10*time.Millisecond {
				parts = append(parts, fmt.Sprintf("%s %.1f", g, r.cpu[g].Seconds()))
			}
		}
		w("  run %d: %.1f of %.1f available (%d cores x %.1f s): %s\n", i+1, total.Seconds(),
			float64(runtime.NumCPU())*r.completed.Seconds(), runtime.NumCPU(), r.completed.Seconds(), strings.Join(parts, ", "))
	}

}

// writeDSRNotes writes the notes on reading the figures.
func writeDSRNotes(rep *benchutil.Report, cfg dsrConfig, api []apiRun) {
	w := rep.Printf
	w("\nnotes:\n")
	w("  - percentiles are nearest-rank over the %d customers of a run; the table shows the minimum,\n", cfg.samples)
	w("    median and maximum over runs of each run's percentile; PASS/FAIL compares the median\n")
	w("  - engine figures exclude Kubernetes entirely (no API reads, no status writes, no events)\n")
	w("    and connection set-up (the pool is warm); they include every database round trip and\n")
	w("    commit of the request, the catalog read and inventory check Execute does on each call\n")
	w("  - the verification re-scan reads every text column of every inventory table without an\n")
	w("    index, so it grows with the database; the controller runs it for every target of an\n")
	w("    erasure, one pass over a tenant's tables shared by the erasures verifying at that time\n")
	w("  - the API figure includes everything the manager does per request: identifier and salt\n")
	w("    reads, deadline, approval, both targets, the verification re-scan of both, events and\n")
	w("    status writes, with the manager's default concurrency\n")
	benchCPU := make([]float64, len(api))
	for i, r := range api {
		benchCPU[i] = r.cpu["benchmark (creating, watching)"].Seconds()
	}
	_, medCPU, _ := benchutil.Stats(benchCPU)
	w("  - the benchmark is part of the load it measures: it watches the requests (one watch, each\n")
	w("    create and status write sent to it once), and creating and watching took %.1f CPU-s in\n", medCPU)
	w("    the benchmark process (median run)\n")
	w("  - every process shares the machine's %d cores with whatever else runs on it (see load); the\n", runtime.NumCPU())
	w("    spread between runs comes mostly from that\n")
}
