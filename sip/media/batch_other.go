//go:build !linux || nommsg

package media

import "net"

// batching says whether legs read and send with recvmmsg and sendmmsg.
const batching = false

func (l *Leg) readLoop() { l.readLoopPlain() }

// stampArrivals asks the kernel to stamp the arrival of c's datagrams
// (Linux with recvmmsg only: the RTP read delay is not measured here).
func stampArrivals(*net.UDPConn) {}
