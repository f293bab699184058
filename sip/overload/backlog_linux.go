package overload

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// soMeminfo is SO_MEMINFO (linux/socket.h); its answer's first two words
// are SK_MEMINFO_RMEM_ALLOC and SK_MEMINFO_RCVBUF.
const soMeminfo = 55

// backlogReference is the most receive-buffer memory the backlog is
// measured against: Linux's default buffer (net.core.rmem_default,
// 212992 bytes, doubled by the kernel for its bookkeeping). A larger
// buffer (sip asks for 4 MiB) absorbs a stall without drops, but a
// queue of this size is already about a hundred SIP messages waiting.
const backlogReference = 2 * 212992

// receiveBacklog returns how full c's receive buffer is (0-1, more once
// past the reference): the memory its queued datagrams take over the
// buffer's size, at which the kernel drops, or over backlogReference
// when the buffer is larger. 0 when it cannot be read.
func receiveBacklog(c syscall.Conn) float64 {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var info [9]uint32
	var serr syscall.Errno
	err = raw.Control(func(fd uintptr) {
		n := uint32(unsafe.Sizeof(info))
		// x/sys/unix's number: the syscall package has none for
		// getsockopt on 386 (socketcall there), Linux 4.3 and later do.
		_, _, serr = syscall.Syscall6(unix.SYS_GETSOCKOPT, fd, syscall.SOL_SOCKET, soMeminfo,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&n)), 0)
	})
	if err != nil || serr != 0 || info[1] == 0 {
		return 0
	}
	return float64(info[0]) / float64(min(info[1], backlogReference))
}
