package devenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// redisReadyTimeout bounds how long a redis-server child may take to
	// answer PING, loading its AOF included.
	redisReadyTimeout = 10 * time.Second
	// redisShutdownTimeout bounds how long SHUTDOWN NOSAVE may take before
	// the child is killed.
	redisShutdownTimeout = 5 * time.Second
	// redisLogName is the child's log file, in its data directory.
	redisLogName = "redis-server.log"
)

// errPortTaken says that a redis-server child could not bind its port:
// someone took it between our picking it and the child's binding it.
var errPortTaken = errors.New("port already in use")

// redisProc is one run of a redis-server child process.
type redisProc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed once the child has exited and been reaped
}

// startRedisProc starts redis-server on 127.0.0.1:port with its data and
// log in dir, and waits until it answers PING. extra are more arguments
// (cluster or replica settings). ctx bounds only the start: the child runs
// on after ctx ends, until stopped or killed.
func startRedisProc(ctx context.Context, bin string, port int, dir string, aof bool, extra ...string) (*redisProc, error) {
	args := []string{
		"--bind", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--dir", dir,
		"--daemonize", "no",
		"--save", "",
	}
	if aof {
		// always, as in production (docs/OPERATIONS.md): every write is
		// fsynced before Redis answers it. With everysec Redis may even
		// answer a write before handing it to the kernel (while an fsync is
		// slow), so a kill -9 could lose it; a fault test that kills the
		// server must find every acknowledged write again.
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	return runRedisProc(ctx, bin, port, dir, append(args, extra...))
}

// runRedisProc starts bin with args (which must make it listen on
// 127.0.0.1:port), its log in dir, and waits until it answers PING.
func runRedisProc(ctx context.Context, bin string, port int, dir string, args []string) (*redisProc, error) {
	logPath := filepath.Join(dir, redisLogName)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("redis-server log: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor once started
	logStart, _ := logFile.Seek(0, io.SeekEnd)

	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &redisProc{cmd: cmd, addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()

	if err := p.waitReady(ctx); err != nil {
		p.kill()
		out := readFrom(logPath, logStart)
		if strings.Contains(out, "Address already in use") {
			return nil, fmt.Errorf("redis-server on %s: %w", p.addr, errPortTaken)
		}
		return nil, fmt.Errorf("redis-server on %s (log %s): %w\n%s", p.addr, logPath, err, lastLines(out, 10))
	}
	return p, nil
}

// waitReady polls the child until it answers PING, exits, or time runs
// out. It speaks RESP itself rather than through go-redis, whose pool logs
// every refused dial of the start-up window.
func (p *redisProc) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, redisReadyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		var pid int
		pid, lastErr = pingRedis(p.addr)
		switch {
		case lastErr == nil && pid == p.cmd.Process.Pid:
			return nil
		case lastErr == nil:
			// Another server holds the port; ours is failing to bind it.
			return fmt.Errorf("redis-server pid %d answers on %s: %w", pid, p.addr, errPortTaken)
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited: %s", p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("no answer to PING: %w (last: %v)", ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

// pingRedis returns the process id of the Redis at addr once it answers
// PING: not while it is still loading its data (-LOADING). The id tells our
// child from another server that took its port.
func pingRedis(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return 0, err
	}
	// INFO answers during loading, PING does not: ask both at once.
	if _, err := io.WriteString(conn, "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n*1\r\n$4\r\nPING\r\n"); err != nil {
		return 0, err
	}
	br := bufio.NewReader(conn)
	head, err := readRESPLine(br)
	if err != nil {
		return 0, err
	}
	if !strings.HasPrefix(head, "$") {
		return 0, fmt.Errorf("INFO: unexpected reply %q", head)
	}
	size, err := strconv.Atoi(head[1:])
	if err != nil || size < 0 {
		return 0, fmt.Errorf("INFO: unexpected reply %q", head)
	}
	body := make([]byte, size+2) // and its CRLF
	if _, err := io.ReadFull(br, body); err != nil {
		return 0, err
	}
	pid := 0
	for _, line := range strings.Split(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	pong, err := readRESPLine(br)
	if err != nil {
		return 0, err
	}
	if pong != "+PONG" {
		return 0, fmt.Errorf("PING: %s", pong)
	}
	return pid, nil
}

// readRESPLine reads one CRLF-terminated line and turns an error reply into
// an error.
func readRESPLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return "", errors.New(line[1:])
	}
	return line, nil
}

// shutdown asks the child to exit without writing a snapshot (an AOF is
// still flushed), and kills it if it has not within redisShutdownTimeout.
func (p *redisProc) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), redisShutdownTimeout)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1, DialerRetries: 1, PoolSize: 1})
	// The reply is the connection closing, so the error says nothing.
	_ = rdb.ShutdownNoSave(ctx).Err()
	_ = rdb.Close()
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill()
	}
}

// kill sends SIGKILL to the child's process group (which holds any AOF
// rewrite child it forked) and waits until the child is reaped.
func (p *redisProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	// The child leads its own group (Setpgid), so its pid is the group's id.
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// signal sends sig to the child's process group, unless it has exited.
func (p *redisProc) signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("redis-server on %s: %s: %w", p.addr, sig, err)
	}
	return nil
}

// readFrom returns what the file at path holds from offset on.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 64<<10))
	return string(b)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
