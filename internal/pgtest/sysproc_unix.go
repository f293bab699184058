//go:build unix && !linux

package pgtest

import "syscall"

func sysProcAttr(cred *procCred) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}
