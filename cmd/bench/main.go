// Command bench runs the benchmark scenarios and writes docs/BENCHMARKS.md:
// see internal/bench.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/broadcast-dev/broadcast/internal/bench"
)

func main() {
	exe, _ := os.Executable()
	out := flag.String("out", "docs/BENCHMARKS.md", "where to write the report")
	quick := flag.Bool("quick", false, "small runs, for a smoke test of the benchmark itself")
	bin := flag.String("bin", filepath.Dir(exe), "directory of the service binaries")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var report bytes.Buffer
	if err := bench.Run(ctx, bench.Scenarios(*quick), *bin, &report, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, report.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Printf("\nwrote %s\n", *out)
}
