// Command natsd runs the embedded NATS JetStream server of internal/devenv
// as a process of its own, on 127.0.0.1, until SIGINT or SIGTERM: the
// benchmarks run it so, to measure its CPU apart from the simulator's.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/broadcast-dev/broadcast/internal/devenv"
)

func main() {
	port := flag.Int("port", 4222, "client port")
	store := flag.String("store", "", "JetStream store directory (default: a temporary one, removed at exit)")
	sync := flag.String("sync", "", `JetStream sync: "always" or an interval such as 1s (default devenv.DefaultSyncInterval)`)
	flag.Parse()
	interval, always, err := devenv.ParseSync(*sync)
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsd:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	n, err := devenv.NewNATSServer(devenv.NATSOptions{Port: *port, StoreDir: *store, SyncInterval: interval, SyncAlways: always})
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsd:", err)
		os.Exit(1)
	}
	fmt.Printf("NATS JetStream at %s, store %s\n", n.URL(), n.StoreDir())
	<-ctx.Done()
	n.Close()
}
