// Command lethe is Lethe's tool for the people who operate it and map
// their databases' personal data (internal/cli). `make plugin` builds it as
// bin/kubectl-lethe: on the PATH it is the kubectl plugin `kubectl lethe`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lethe-dev/lethe/internal/cli"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Version: version})
	stop()
	os.Exit(code)
}
