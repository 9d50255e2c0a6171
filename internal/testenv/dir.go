package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dirPrefix starts the name of every directory testenv makes, which is
// <dirPrefix><kind>-<pid>-<random> in os.TempDir().
const dirPrefix = "broadcast-testenv-"

// processDir makes a directory for a shared server of kind (no dash in it)
// that lives as long as this process. A shared server is never stopped, so
// nothing in this process can remove its directory; instead each call
// removes those left by test binaries that have exited.
func processDir(kind string) (string, error) {
	removeStaleDirs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%s-%d-", dirPrefix, kind, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("testenv dir: %w", err)
	}
	return dir, nil
}

// removeStaleDirs removes the directories of processes that are gone.
func removeStaleDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range matches {
		pid, ok := dirPID(filepath.Base(dir))
		if !ok || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// dirPID returns the process id in a name processDir made.
func dirPID(name string) (int, bool) {
	fields := strings.Split(strings.TrimPrefix(name, dirPrefix), "-")
	if len(fields) != 3 {
		return 0, false
	}
	pid, err := strconv.Atoi(fields[1])
	return pid, err == nil && pid > 0
}

// processAlive reports whether a process with this id exists. A reused id
// only keeps a stale directory a while longer.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
