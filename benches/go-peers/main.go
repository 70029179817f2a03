// Command go-peers measures the Go locks werf and its users have today against raw
// syscall.Flock, in one run: github.com/gofrs/flock (blocking Lock, and TryLockContext with a
// retry delay) and werf's lockgate file locker (what werf's `:local` mode uses).
//
//   - uncontended acquire+release, with testing.Benchmark (ns/op);
//   - handoff latency p50/p99: a holder releases, a waiter in another goroutine (its own
//     descriptor — flock(2) sees it as another owner, exactly as another process) gets the
//     lock; the latency is the time from the holder's release to the waiter's acquire.
//
// With -gc DIR it instead runs lockgate v0.2's lock-file collector, GCLockFileDir(DIR, 0),
// once and exits: the peer of `werf-sync gc` in benches/gc.rs.
//
// Usage: go run . [-out FILE] [-samples N] [-short] | go run . -gc DIR
// (scripts/bench-go-peers runs it and writes target/bench-results/go-peers.json).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/werf/lockgate/pkg/file_lock"
)

// result is one row of the JSON output.
type result struct {
	Scenario string  `json:"scenario"`
	Subject  string  `json:"subject"`
	NsPerOp  float64 `json:"ns_per_op,omitempty"`
	P50Us    float64 `json:"p50_us,omitempty"`
	P99Us    float64 `json:"p99_us,omitempty"`
	MaxUs    float64 `json:"max_us,omitempty"`
	Samples  int     `json:"samples,omitempty"`
}

func main() {
	out := flag.String("out", "", "write the results as JSON to this file")
	samples := flag.Int("samples", 200, "handoff samples per subject (lockgate: a tenth, min 4)")
	short := flag.Bool("short", false, "a quick run (smoke test): few samples, short benchmarks")
	gcDir := flag.String("gc", "", "run lockgate's GCLockFileDir on DIR and exit")
	flag.Parse()
	if *gcDir != "" {
		check(file_lock.GCLockFileDir(*gcDir, 0), "collect "+*gcDir)
		return
	}
	if *short {
		*samples = 20
	}

	dir, err := os.MkdirTemp("", "werf-sync-go-peers")
	check(err, "create a temporary directory")
	defer os.RemoveAll(dir)

	var results []result
	fmt.Printf("go-peers: %s, GOMAXPROCS %d\n", runtime.Version(), runtime.GOMAXPROCS(0))
	for _, s := range uncontendedSubjects(dir) {
		r := runUncontended(s)
		fmt.Printf("  uncontended  %-34s %8.0f ns/op\n", s.name, r.NsPerOp)
		results = append(results, r)
	}
	for _, s := range handoffSubjects(dir) {
		n := *samples
		if s.poll >= lockgatePoll {
			n = max(4, n/10)
		}
		r := runHandoff(s, n)
		fmt.Printf("  handoff      %-34s p50 %9.1f µs  p99 %9.1f µs  (%d samples)\n",
			s.name, r.P50Us, r.P99Us, r.Samples)
		results = append(results, r)
	}
	if *out != "" {
		check(os.MkdirAll(filepath.Dir(*out), 0o755), "create the output directory")
		data, err := json.MarshalIndent(map[string]any{
			"go": runtime.Version(), "results": results,
		}, "", "  ")
		check(err, "encode results")
		check(os.WriteFile(*out, append(data, '\n'), 0o644), "write "+*out)
		fmt.Printf("results written to %s\n", *out)
	}
}

// check ends the program with a message naming what failed.
func check(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-peers: cannot %s: %v\n", what, err)
		os.Exit(1)
	}
}
