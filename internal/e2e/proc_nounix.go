//go:build !unix

package e2e

import "syscall"

// childProcAttr: the peers (baresip, sipp) run on Linux; elsewhere a
// helper process is started with the default attributes, so that the
// package builds and vets (GOOS=windows go vet ./...).
func childProcAttr() *syscall.SysProcAttr {
	return nil
}
