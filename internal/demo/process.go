package demo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func newProcesses(binDir, work string, env []string, log *zap.Logger) *processes {
	return &processes{binDir: binDir, work: work, env: env, log: log}
}

// start runs bin/<binary> as name with the demo's environment and extra
// variables, its output in <work>/<name>.log.
func (p *processes) start(binary, name string, extra ...string) error {
	path := filepath.Join(p.binDir, binary)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s: %w (build it with 'make build')", path, err)
	}
	logf, err := os.Create(filepath.Join(p.work, name+".log"))
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
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	p.mu.Lock()
	p.procs = append(p.procs, c)
	p.names = append(p.names, name)
	p.mu.Unlock()
	return nil
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
			return fmt.Errorf("%s exited (%v): see %s", c.name, c.err, filepath.Join(p.work, c.name+".log"))
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

// leaks returns a problem for each service log that contains a secret.
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
	}
	return problems
}
