//go:build !linux || nommsg

package media

// batching says whether legs read and send with recvmmsg and sendmmsg.
const batching = false

func (l *Leg) readLoop() { l.readLoopPlain() }
