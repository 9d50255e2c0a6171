package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/broadcast-dev/broadcast/internal/devenv"
)

// natsStartTimeout bounds how long bin/natsd may take to answer.
const natsStartTimeout = 20 * time.Second

// natsStopTimeout bounds how long bin/natsd may take to stop on SIGTERM
// before it is killed.
const natsStopTimeout = 10 * time.Second

// startNATSProcess runs bin/natsd (the embedded server, in a process of
// its own) on a free port with its store and log under work, and waits
// until JetStream answers. It returns the server's URL, its pid and a
// function that stops it.
func startNATSProcess(ctx context.Context, binDir, work string) (string, int, func(), error) {
	path := filepath.Join(binDir, "natsd")
	if _, err := os.Stat(path); err != nil {
		return "", 0, nil, fmt.Errorf("%s: %w (build it with 'make build')", path, err)
	}
	addr, err := freeAddr()
	if err != nil {
		return "", 0, nil, err
	}
	port := addr[len("127.0.0.1:"):]
	if _, err := strconv.Atoi(port); err != nil {
		return "", 0, nil, fmt.Errorf("free address %s: %w", addr, err)
	}
	logf, err := os.Create(filepath.Join(work, "natsd.log"))
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(path, "-port", port, "-store", filepath.Join(work, "nats"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives the demo
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", 0, nil, fmt.Errorf("start natsd: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(natsStopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	url := "nats://" + addr
	deadline := time.Now().Add(natsStartTimeout)
	for {
		_, _, err := devenv.StartNATS(ctx, devenv.NATSOptions{URL: url})
		if err == nil {
			return url, cmd.Process.Pid, stop, nil
		}
		select {
		case <-exited:
			return "", 0, nil, fmt.Errorf("natsd exited at start (see %s): %w", filepath.Join(work, "natsd.log"), err)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return "", 0, nil, errors.Join(fmt.Errorf("natsd does not answer within %s", natsStartTimeout), err, ctx.Err())
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
