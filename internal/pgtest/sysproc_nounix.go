//go:build !unix

package pgtest

import "syscall"

// procCred is who a child process runs as; PostgreSQL is only run as
// another user on Unix (by root), so here it is never set. This file lets
// the package build and vet on other systems (GOOS=windows go vet ./...).
type procCred struct{ Uid, Gid uint32 }

func newCred(uid, gid uint32) *procCred { return &procCred{Uid: uid, Gid: gid} }

func sysProcAttr(*procCred) *syscall.SysProcAttr { return nil }
