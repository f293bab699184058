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
	var b [1]byte
	var oobn int
	var rerr error
	if err := raw.Control(func(fd uintptr) {
		_, oobn, _, _, rerr = syscall.Recvmsg(int(fd), b[:], oob, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}); err != nil || rerr != nil {
		return 0, false
	}
	at := rxstamp.Time(oob[:oobn])
	if at.IsZero() {
		return 0, false
	}
	return now.Sub(at), true
}
