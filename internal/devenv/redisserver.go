package devenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
)

// redisPortTries is how many free ports a new redis-server tries before it
// gives up: another process may take a port between our picking it and the
// child's binding it.
const redisPortTries = 3

// RedisServer is a redis-server child process that can be killed and
// started again on the same port and data directory, for fault tests.
type RedisServer struct {
	bin    string
	dir    string
	ownDir bool
	aof    bool
	port   int

	mu   sync.Mutex
	proc *redisProc // nil while stopped
}

// NewRedisServer starts redis-server on a free 127.0.0.1 port with its data
// and log (redis-server.log) in dir; an empty dir uses a fresh temporary
// directory that Close removes. With aof, every acknowledged write is in
// the append-only file, so it survives Stop. Close it when done.
func NewRedisServer(ctx context.Context, dir string, aof bool) (*RedisServer, error) {
	bin, err := redisServerBin()
	if err != nil {
		return nil, err
	}
	r := &RedisServer{bin: bin, dir: dir, aof: aof}
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp("", "devenv-redis-"); err != nil {
			return nil, fmt.Errorf("redis dir: %w", err)
		}
		r.ownDir = true
	} else if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, fmt.Errorf("redis dir: %w", err)
	}
	if r.dir, err = filepath.Abs(r.dir); err != nil {
		r.removeOwnDir()
		return nil, fmt.Errorf("redis dir: %w", err)
	}
	for try := 1; ; try++ {
		if r.port, err = freePort(); err != nil {
			r.removeOwnDir()
			return nil, err
		}
		err = r.Start(ctx)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, errPortTaken) || try == redisPortTries {
			r.removeOwnDir()
			return nil, err
		}
	}
}

// URL is the server's URL, database 0; it stays the same across Stop and
// Start.
func (r *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// Dir is the data directory, which also holds redis-server.log.
func (r *RedisServer) Dir() string { return r.dir }

// Start starts the server again after Stop, on the same port and data
// directory, and waits until it answers PING. Starting a running server
// does nothing.
func (r *RedisServer) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		return nil
	}
	p, err := startRedisProc(ctx, r.bin, r.port, r.dir, r.aof)
	if err != nil {
		return err
	}
	r.proc = p
	return nil
}

// Stop kills the server the way a crash would (SIGKILL, no shutdown) and
// waits until it has exited. Stopping a stopped server does nothing.
func (r *RedisServer) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	r.proc.kill()
	r.proc = nil
	return nil
}

// Freeze stops the server with SIGSTOP, as a stalled host would: its
// clients' connections stay open, what they send waits in the kernel, and
// nothing is answered or run until Thaw (SIGCONT). A stopped server
// ignores both.
func (r *RedisServer) Freeze() error { return r.signal(syscall.SIGSTOP) }

// Thaw lets a frozen server run again.
func (r *RedisServer) Thaw() error { return r.signal(syscall.SIGCONT) }

func (r *RedisServer) signal(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	return r.proc.signal(sig)
}

// Close shuts the server down in order (SHUTDOWN NOSAVE, then SIGKILL if it
// hangs) and removes the data directory if NewRedisServer created it.
func (r *RedisServer) Close() error {
	r.mu.Lock()
	if r.proc != nil {
		_ = r.proc.signal(syscall.SIGCONT) // a frozen server cannot shut down
		r.proc.shutdown()
		r.proc = nil
	}
	r.mu.Unlock()
	return r.removeOwnDir()
}

func (r *RedisServer) removeOwnDir() error {
	if !r.ownDir {
		return nil
	}
	if err := os.RemoveAll(r.dir); err != nil {
		return fmt.Errorf("remove redis dir: %w", err)
	}
	return nil
}

// redisServerBin finds redis-server, or says how to get it.
func redisServerBin() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server is not on PATH (install it, e.g. `apt-get install redis-server`): %w", err)
	}
	return bin, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
