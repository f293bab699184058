//go:build !unix

package media

import "time"

// drainRTCP reads and discards whatever waits on the RTCP socket (Hotline
// does not use RTCP; reading it keeps the socket's queue from overflowing).
func (l *Leg) drainRTCP() {
	var b [64]byte
	_ = l.rtcp.SetReadDeadline(time.Now().Add(time.Millisecond))
	for range 1000 {
		if _, _, err := l.rtcp.ReadFromUDPAddrPort(b[:]); err != nil {
			return
		}
	}
}
