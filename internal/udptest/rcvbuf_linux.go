package udptest

import (
	"net"

	"golang.org/x/sys/unix"
)

// forceRcvbuf sets c's receive buffer to n bytes past rmem_max
// (SO_RCVBUFFORCE: root only; without it the buffer stays as it was).
func forceRcvbuf(c *net.UDPConn, n int) {
	if raw, err := c.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n) })
	}
}
