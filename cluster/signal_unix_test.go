//go:build unix

package cluster

import "syscall"

// pauseProcess stops a process (SIGSTOP): it keeps its state and sockets
// but answers nothing until resumeProcess.
func pauseProcess(pid int) error { return syscall.Kill(pid, syscall.SIGSTOP) }

// resumeProcess continues a process stopped by pauseProcess (SIGCONT).
func resumeProcess(pid int) error { return syscall.Kill(pid, syscall.SIGCONT) }
