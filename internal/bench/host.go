package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// hostSample is what Linux says of the whole machine's CPUs at one moment:
// a run's figures depend on everything else the host runs, so the report
// shows how busy it was.
type hostSample struct {
	at          time.Time
	busy, total uint64 // jiffies of every CPU, /proc/stat
	stalled     uint64 // µs during which some runnable task waited for a CPU, /proc/pressure/cpu
	ok          bool
}

func sampleHost() hostSample {
	s := hostSample{at: time.Now()}
	f, err := os.Open("/proc/stat")
	if err != nil {
		return s
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return s
	}
	fields := strings.Fields(sc.Text()) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 5 || fields[0] != "cpu" {
		return s
	}
	for i, v := range fields[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return s
		}
		if i < 8 { // guest time is counted in user already
			s.total += n
			if i != 3 && i != 4 { // idle, iowait
				s.busy += n
			}
		}
	}
	s.ok = true
	if data, err := os.ReadFile("/proc/pressure/cpu"); err == nil {
		for _, f := range strings.Fields(strings.SplitN(string(data), "\n", 2)[0]) {
			if v, found := strings.CutPrefix(f, "total="); found {
				s.stalled, _ = strconv.ParseUint(v, 10, 64)
			}
		}
	}
	return s
}

// hostLoad is the host between two samples.
type hostLoad struct {
	Busy    float64 // share of all CPUs' time spent running anything
	Stalled float64 // share of the wall time some runnable task waited for a CPU; -1 if unknown
}

func loadBetween(a, b hostSample) (hostLoad, bool) {
	if !a.ok || !b.ok || b.total <= a.total {
		return hostLoad{}, false
	}
	l := hostLoad{Busy: float64(b.busy-a.busy) / float64(b.total-a.total), Stalled: -1}
	if wall := b.at.Sub(a.at); wall > 0 && b.stalled >= a.stalled && a.stalled > 0 {
		l.Stalled = float64(b.stalled-a.stalled) / float64(wall.Microseconds())
	}
	return l, true
}

func (l hostLoad) String() string {
	s := fmt.Sprintf("%.0f%% busy", 100*l.Busy)
	if l.Stalled >= 0 {
		s += fmt.Sprintf(", %.0f%% starved", 100*l.Stalled)
	}
	return s
}
