package media

import (
	"math"
	"sync/atomic"
	"time"
)

// readWait tracks how long RTP datagrams waited in the legs' sockets
// before a read took them (the kernel's arrival stamp of the oldest
// datagram a read returned, against the read): the least wait of the
// reads since the last take, so that a standing queue shows (every read
// waited) and a short stall or one late leg does not.
type readWait struct {
	least atomic.Int64 // ns; math.MaxInt64: no read since the last take
	reads atomic.Int64
}

func (w *readWait) init() { w.least.Store(math.MaxInt64) }

// note counts one read whose oldest datagram waited d.
func (w *readWait) note(d time.Duration) {
	w.reads.Add(1)
	for {
		cur := w.least.Load()
		if int64(d) >= cur || w.least.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// take returns the least wait of the reads since the last take and how
// many there were (0: none, and the wait means nothing), and starts over.
func (w *readWait) take() (time.Duration, int64) {
	n := w.reads.Swap(0)
	least := w.least.Swap(math.MaxInt64)
	if n == 0 || least == math.MaxInt64 {
		return 0, 0
	}
	return time.Duration(max(least, 0)), n
}

// TakeReadDelay returns the least time RTP datagrams waited in the legs'
// sockets before Hotline read them, over the reads since the last call,
// and how many reads there were (0: none; on Linux, where the kernel
// stamps their arrival). Every read having waited long is a media relay
// that has fallen behind: audio reaches the other party and the
// recording late, and what is still queued when the call ends is lost.
// With the in-kernel relay the packets it leaves to user space count (a
// leg's first ones, before its flow is installed, among them), and so
// does its ring's reader: the oldest copy each read of the ring took
// against the kernel's relaying (the least over the reads); the larger
// of the two standing waits is returned. A ring reader held up delivers
// the recordings' audio late, and once the ring is full the kernel
// relays packets without the recordings' copies.
func (p *Ports) TakeReadDelay() (time.Duration, int64) {
	d, n := p.wait.take()
	if kd, kn := p.kern.Load().takeLag(); kn > 0 {
		if n == 0 || kd > d {
			d = kd
		}
		n += kn
	}
	return d, n
}
