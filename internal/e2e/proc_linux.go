//go:build linux

package e2e

import "syscall"

// childProcAttr puts a helper process (baresip, sipp) in its own process
// group and has the kernel kill it if the test binary dies, so that a
// crashed or timed-out test leaves no peer holding loopback ports.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
