package overload

import (
	"syscall"
	"unsafe"
)

// soMeminfo is SO_MEMINFO (linux/socket.h); its answer's first two words
// are SK_MEMINFO_RMEM_ALLOC and SK_MEMINFO_RCVBUF.
const soMeminfo = 55

// receiveBacklog returns how full c's receive buffer is (0-1): the memory
// its queued datagrams take over the buffer's size, at which the kernel
// drops. 0 when it cannot be read.
func receiveBacklog(c syscall.Conn) float64 {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var info [9]uint32
	var serr syscall.Errno
	err = raw.Control(func(fd uintptr) {
		n := uint32(unsafe.Sizeof(info))
		_, _, serr = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.SOL_SOCKET, soMeminfo,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&n)), 0)
	})
	if err != nil || serr != 0 || info[1] == 0 {
		return 0
	}
	return float64(info[0]) / float64(info[1])
}
