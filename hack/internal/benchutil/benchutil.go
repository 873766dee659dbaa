// Package benchutil is what the scenarios of Lethe's benchmark program
// (hack/bench) share: progress and results output, the header of a results
// file (machine, software versions), tables of min/median/max figures,
// percentiles, and one run's local environment with the manager (see
// hack/localenv).
package benchutil

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Progress writes a progress line to stderr.
func Progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Fatalf writes the message to stderr and exits 1.
func Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

// WriteResult writes the results file dir/name atomically, creating dir.
func WriteResult(dir, name, content string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil { // #nosec G306 -- a results file meant to be read
		return err
	}
	return os.Rename(path+".tmp", path)
}

// Publish writes a report to the results file dir/name and stdout, or exits
// 1 if it cannot write the file.
func Publish(dir, name, report string) {
	if err := WriteResult(dir, name, report); err != nil {
		Fatalf("%v", err)
	}
	fmt.Print(report)
	Progress("written to %s", filepath.Join(dir, name))
}
