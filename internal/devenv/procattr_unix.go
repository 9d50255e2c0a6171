//go:build unix && !linux

package devenv

import "syscall"

// childProcAttr puts a child in its own process group. Outside Linux there
// is no Pdeathsig: a child of a parent that crashes lives on until killed.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
