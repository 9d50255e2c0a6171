// Command bcast is the command line of the broadcast API (see internal/cli
// and 'bcast --help').
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/broadcast-dev/broadcast/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
