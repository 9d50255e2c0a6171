package demo

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat. The kernel
// exports them in USER_HZ, which is 100 on every Linux architecture.
const userHZ = 100

// procCPU is one process's CPU time (user plus system) at a moment.
type procCPU struct {
	PID  int
	Name string // the command (comm)
	CPU  time.Duration
}

// readProcStat reads the command and the CPU time of pid from /proc.
func readProcStat(pid int) (procCPU, int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procCPU{}, 0, err
	}
	return parseProcStat(data)
}

// parseProcStat parses /proc/<pid>/stat: it returns the process's command
// and CPU time, and its parent's pid. The command is in parentheses and
// may itself contain spaces and parentheses, so the fields are counted from
// the last ')'.
func parseProcStat(data []byte) (procCPU, int, error) {
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return procCPU{}, 0, fmt.Errorf("proc stat: no command in %q", data)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data[:open])))
	if err != nil {
		return procCPU{}, 0, fmt.Errorf("proc stat: pid: %w", err)
	}
	// After the command: state(3) ppid(4) … utime(14) stime(15).
	f := strings.Fields(string(data[end+1:]))
	if len(f) < 13 {
		return procCPU{}, 0, fmt.Errorf("proc stat: %d fields after the command", len(f))
	}
	ppid, err1 := strconv.Atoi(f[1])
	utime, err2 := strconv.ParseInt(f[11], 10, 64)
	stime, err3 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procCPU{}, 0, fmt.Errorf("proc stat: bad ppid, utime or stime in %q", data)
	}
	cpu := time.Duration(utime+stime) * time.Second / userHZ
	return procCPU{PID: pid, Name: string(data[open+1 : end]), CPU: cpu}, ppid, nil
}

// childrenCPU returns the CPU time of this process and of each of its
// direct children (the services and a redis-server started here), by pid.
func childrenCPU() (map[int]procCPU, error) {
	self := os.Getpid()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, err
	}
	out := make(map[int]procCPU)
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		p, ppid, err := readProcStat(pid)
		if err != nil {
			continue // exited meanwhile, or not readable
		}
		if pid == self || ppid == self {
			out[pid] = p
		}
	}
	if _, ok := out[self]; !ok {
		return nil, fmt.Errorf("proc stat: cannot read this process (pid %d)", self)
	}
	return out, nil
}

// ProcessCPU is the CPU time one process used during a measurement.
type ProcessCPU struct {
	Name string
	CPU  time.Duration
	// Harness: this process, which runs the simulator and polls the API
	// (and NATS too, unless Options.NATSProcess): not the product's.
	Harness bool
}

// cpuSpent is the CPU time each process used between two readings of
// childrenCPU, largest first. A process that exited before the second
// reading is left out; one started after the first counts from zero.
func cpuSpent(before, after map[int]procCPU, names map[int]string) []ProcessCPU {
	var out []ProcessCPU
	for pid, a := range after {
		d := a.CPU - before[pid].CPU
		name := a.Name
		if n, ok := names[pid]; ok {
			name = n
		}
		out = append(out, ProcessCPU{Name: name, CPU: d, Harness: pid == os.Getpid()})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CPU != out[j].CPU {
			return out[i].CPU > out[j].CPU
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmHWM(data)
}

// parseVmHWM finds "VmHWM: <n> kB" in /proc/<pid>/status.
func parseVmHWM(data []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "VmHWM" {
			continue
		}
		f := strings.Fields(value)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("proc status: VmHWM %q", value)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc status: VmHWM: %w", err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("proc status: no VmHWM")
}
