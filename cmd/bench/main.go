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
	out := flag.String("out", "", "where to write the report, - for standard output (default docs/BENCHMARKS.md; with -run, standard output)")
	quick := flag.Bool("quick", false, "small runs, for a smoke test of the benchmark itself")
	pattern := flag.String("run", "", "run only the scenarios whose id (F1, F2, B1…B6, C1, E1, E2, demo) matches this regular expression")
	bin := flag.String("bin", filepath.Dir(exe), "directory of the service binaries")
	flag.Parse()
	if *out == "" {
		*out = "docs/BENCHMARKS.md"
		if *pattern != "" {
			*out = "-"
		}
	}
	scenarios, err := bench.Select(bench.Scenarios(*quick), *pattern)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var report bytes.Buffer
	if err := bench.Run(ctx, scenarios, *bin, &report, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if *out == "-" {
		fmt.Printf("\n%s", report.Bytes())
		return
	}
	if err := os.WriteFile(*out, report.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Printf("\nwrote %s\n", *out)
}
