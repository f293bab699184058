//go:build linux && (amd64 || arm64)

package sip

import (
	"net"
	"syscall"
	"time"

	"hotline/internal/rxstamp"
)

// headWait returns how long the datagram at the head of c's receive
// queue has waited there (its kernel arrival stamp), leaving it in the
// queue (MSG_PEEK): false when the queue is empty or the datagram has
// no stamp.
func headWait(c *net.UDPConn, now time.Time, oob []byte) (time.Duration, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var w time.Duration
	var ok bool
	if err := raw.Control(func(fd uintptr) { w, ok = headWaitFD(int(fd), now, oob) }); err != nil {
		return 0, false
	}
	return w, ok
}

// headWaitFD is headWait on a socket's descriptor.
func headWaitFD(fd int, now time.Time, oob []byte) (time.Duration, bool) {
	var b [1]byte
	_, oobn, _, _, err := syscall.Recvmsg(fd, b[:], oob, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	if err != nil {
		return 0, false
	}
	at := rxstamp.Time(oob[:oobn])
	if at.IsZero() {
		return 0, false
	}
	return now.Sub(at), true
}
