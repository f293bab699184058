package main

import (
	"encoding/binary"
	"os/exec"
	"syscall"
	"unsafe"
)

// killGroupOnCancel starts cmd in its own process group, killed with this
// process, and has its context's cancellation kill the whole group.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// dieWithParent has the kernel kill cmd if this process dies.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// rxTimestamps asks the kernel to stamp each datagram received on the
// socket fd (SO_TIMESTAMPNS); false if it refuses.
func rxTimestamps(fd uintptr) bool {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1) == nil
}

// kernelRxTime returns the SCM_TIMESTAMPNS receive time in oob, if any.
func kernelRxTime(oob []byte) (int64, bool) {
	for len(oob) >= syscall.CmsgSpace(0) {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < syscall.CmsgLen(0) || l > len(oob) {
			return 0, false
		}
		data := oob[syscall.CmsgLen(0):l]
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && len(data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(data))
			nsec := int64(binary.NativeEndian.Uint64(data[8:]))
			return sec*1e9 + nsec, true
		}
		oob = oob[min(syscall.CmsgSpace(l-syscall.CmsgLen(0)), len(oob)):]
	}
	return 0, false
}
