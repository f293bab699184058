package pgtest

import "syscall"

// sysProcAttr runs a child as cred (nil: this user) and has the kernel
// kill it if the test process dies without cleaning up (Go sets the
// parent-death signal after the credentials, so the change does not
// clear it).
func sysProcAttr(cred *procCred) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
}
