package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// processes are the services the demo runs as child processes.
type processes struct {
	binDir, work string
	env          []string
	log          *zap.Logger

	mu    sync.Mutex
	procs []*child
	names []string // every service started, for the log checks after stop
}

type child struct {
	name, binary string
	extra        []string
	cmd          *exec.Cmd
	done         chan struct{}
	err          error
}

func newProcesses(binDir, work string, env []string, log *zap.Logger) *processes {
	return &processes{binDir: binDir, work: work, env: env, log: log}
}

// start runs bin/<binary> as name with the demo's environment and extra
// variables, its output in <work>/<name>.log. Each service's ops listener
// (METRICS_ADDR) takes a port the kernel picks when it listens, unless
// extra sets one: the binaries' default ports would clash between two
// senders, or with another demo or test beside this one, and a port picked
// here and freed before the service binds it may be taken meanwhile (a
// client's ephemeral port), failing the service's start.
func (p *processes) start(binary, name string, extra ...string) error {
	if !hasVar(extra, "METRICS_ADDR") && !hasVar(p.env, "METRICS_ADDR") {
		extra = append(extra[:len(extra):len(extra)], "METRICS_ADDR=127.0.0.1:0")
	}
	return p.launch(binary, name, extra, os.O_TRUNC)
}

// hasVar reports whether env sets the variable name.
func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// metricsAddrs returns the ops listener of each running service that has
// logged it ("ops listening", with the address it bound), by name.
func (p *processes) metricsAddrs() map[string]string {
	out := make(map[string]string)
	for _, name := range p.running() {
		if a := p.loggedAddr(name, "ops listening"); a != "" {
			out[name] = a
		}
	}
	return out
}

// loggedAddr is the address service name last logged with a message that
// starts with msg (a restart binds anew), or "".
func (p *processes) loggedAddr(name, msg string) string {
	data, err := os.ReadFile(filepath.Join(p.work, name+".log"))
	if err != nil {
		return ""
	}
	addr := ""
	for _, line := range bytes.Split(data, []byte("\n")) {
		var entry struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &entry) == nil && strings.HasPrefix(entry.Msg, msg) && entry.Addr != "" {
			addr = entry.Addr
		}
	}
	return addr
}

// launch starts a child; logMode is O_TRUNC for a new service, O_APPEND
// for a restart, whose log follows the killed run's.
func (p *processes) launch(binary, name string, extra []string, logMode int) error {
	path := filepath.Join(p.binDir, binary)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s: %w (build it with 'make build')", path, err)
	}
	logf, err := os.OpenFile(filepath.Join(p.work, name+".log"), os.O_WRONLY|os.O_CREATE|logMode, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(path)
	cmd.Env = append(append(os.Environ(), p.env...), extra...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The services must not outlive the demo, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, binary: binary, extra: extra, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	p.mu.Lock()
	p.procs = append(p.procs, c)
	if logMode != os.O_APPEND {
		p.names = append(p.names, name)
	}
	p.mu.Unlock()
	return nil
}

// kill sends SIGKILL to the running service name, as a crash would, and
// waits until it has exited. It returns the killed child, for restart.
func (p *processes) kill(name string) (*child, error) {
	p.mu.Lock()
	var c *child
	for i, pc := range p.procs {
		if pc.name == name {
			c = pc
			p.procs = append(p.procs[:i:i], p.procs[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("no running service %s", name)
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return nil, fmt.Errorf("kill %s: %w", name, err)
	}
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("%s did not exit within 10 s of SIGKILL", name)
	}
	return c, nil
}

// restart starts a killed service again with the same binary and
// environment, its log appended to the earlier run's.
func (p *processes) restart(c *child) error {
	return p.launch(c.binary, c.name, c.extra, os.O_APPEND)
}

// running names the services running now, in start order.
func (p *processes) running() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.procs))
	for i, c := range p.procs {
		out[i] = c.name
	}
	return out
}

// pid returns the process id of the service started as name, or 0.
func (p *processes) pid(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.procs {
		if c.name == name {
			return c.cmd.Process.Pid
		}
	}
	return 0
}

// byPID names the running services by process id.
func (p *processes) byPID() map[int]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int]string, len(p.procs))
	for _, c := range p.procs {
		out[c.cmd.Process.Pid] = c.name
	}
	return out
}

// exited returns an error naming a service that stopped on its own.
func (p *processes) exited() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.procs {
		select {
		case <-c.done:
			log := filepath.Join(p.work, c.name+".log")
			return fmt.Errorf("%s exited (%v): see %s, which ends: %s", c.name, c.err, log, Tail(log, 3))
		default:
		}
	}
	return nil
}

// stop asks every service to shut down (SIGTERM) and waits for it, killing
// one that takes longer than 30 s. It returns a problem for each service
// that did not exit cleanly (status 0).
func (p *processes) stop() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.procs {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	var problems []string
	for _, c := range p.procs {
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
			problems = append(problems, c.name+" did not stop within 30 s of SIGTERM")
		}
		if c.err != nil {
			problems = append(problems, fmt.Sprintf("%s did not exit cleanly on SIGTERM: %v", c.name, c.err))
		}
	}
	p.procs = nil
	return problems
}

// tokenPattern matches a token in a log: a JWT (a Bot Framework
// activity's, whose header and claims are base64 JSON, "eyJ") or the
// simulator's access tokens.
var tokenPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.|\bsim\.[A-Za-z0-9_-]{40,}`)

// leaks returns a problem for each service log that contains a secret or
// a token.
func (p *processes) leaks(secrets ...string) []string {
	var problems []string
	for _, name := range p.names {
		data, err := os.ReadFile(filepath.Join(p.work, name+".log"))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s log: %v", name, err))
			continue
		}
		for _, s := range secrets {
			if strings.Contains(string(data), s) {
				problems = append(problems, fmt.Sprintf("%s log contains a secret (%.6s…)", name, s))
			}
		}
		if m := tokenPattern.Find(data); m != nil {
			problems = append(problems, fmt.Sprintf("%s log contains a token (%.6s…)", name, m))
		}
	}
	return problems
}

// Tail is the last n lines of a file (a service's log), for an error about it.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
