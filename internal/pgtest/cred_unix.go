//go:build unix

package pgtest

import "syscall"

// procCred is who a child process runs as.
type procCred = syscall.Credential

func newCred(uid, gid uint32) *procCred {
	return &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}
}
