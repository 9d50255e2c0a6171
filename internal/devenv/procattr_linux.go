package devenv

import "syscall"

// childProcAttr puts a child in its own process group, so that a signal
// sent to ours (Ctrl-C in a terminal) does not reach it before we stop it
// in order, and has the kernel kill it if we die first.
//
// Pdeathsig fires when the thread that started the child exits, not the
// process; the Go runtime does not end threads of goroutines that never
// locked one, so for us the two are the same.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
