package demo

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	// A command with a space and a parenthesis, as a process may name itself.
	line := "4242 (my (odd) cmd) S 17 4242 17 0 -1 4194560 912 0 0 0 250 75 0 0 20 0 9 0 48292 1253376 3400 18446744073709551615\n"
	p, ppid, err := parseProcStat([]byte(line))
	require.NoError(t, err)
	require.Equal(t, 4242, p.PID)
	require.Equal(t, "my (odd) cmd", p.Name)
	require.Equal(t, 17, ppid)
	require.Equal(t, 3250*time.Millisecond, p.CPU) // (250+75) ticks of 10 ms

	_, _, err = parseProcStat([]byte("12 (short) S 1 2"))
	require.Error(t, err)
}

func TestParseVmHWM(t *testing.T) {
	t.Parallel()
	n, err := parseVmHWM([]byte("Name:\tdispatcher\nVmPeak:\t  900000 kB\nVmHWM:\t   123456 kB\nVmRSS:\t 1000 kB\n"))
	require.NoError(t, err)
	require.EqualValues(t, 123456*1024, n)
	_, err = parseVmHWM([]byte("Name:\tx\n"))
	require.Error(t, err)
}

// This process and its children are found in /proc; CPU time only grows.
func TestChildrenCPU(t *testing.T) {
	t.Parallel()
	before, err := childrenCPU()
	require.NoError(t, err)
	require.Contains(t, before, os.Getpid())
	after, err := childrenCPU()
	require.NoError(t, err)
	for _, p := range cpuSpent(before, after, nil) {
		require.GreaterOrEqual(t, p.CPU, time.Duration(0), p.Name)
	}
	rss, err := peakRSS(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, rss)
}

func TestCPUSpent(t *testing.T) {
	t.Parallel()
	before := map[int]procCPU{1: {PID: 1, Name: "a", CPU: time.Second}, 2: {PID: 2, Name: "gone", CPU: time.Second}}
	after := map[int]procCPU{1: {PID: 1, Name: "a", CPU: 3 * time.Second}, 3: {PID: 3, Name: "new", CPU: 4 * time.Second}}
	got := cpuSpent(before, after, map[int]string{1: "sender"})
	require.Equal(t, []ProcessCPU{{Name: "new", CPU: 4 * time.Second}, {Name: "sender", CPU: 2 * time.Second}}, got)
}
