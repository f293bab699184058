//go:build unix

package media

import (
	"errors"
	"syscall"
)

// drainRTCP reads and discards whatever waits on the RTCP socket (Hotline
// does not use RTCP; reading it keeps the socket's queue from overflowing
// and counting drops). The socket is non-blocking: it stops at EAGAIN.
func (l *Leg) drainRTCP() {
	rc, err := l.rtcp.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		var b [64]byte   // a datagram is consumed whole, whatever the buffer
		for range 1000 { // bounded: a flood must not keep RTP waiting
			if _, err := syscall.Read(int(fd), b[:]); err != nil && !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		return true
	})
}
