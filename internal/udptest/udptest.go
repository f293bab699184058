// Package udptest has UDP helpers for tests that push many datagrams
// through a relay: a Counter that reads and counts what reaches a socket
// so that its receive buffer does not overflow, and SendPaced, which keeps
// a sender no further ahead of that Counter than its buffer holds.
package udptest

import (
	"net"
	"sync/atomic"
	"time"
)

// Counter reads and counts the datagrams reaching a socket until Stop.
type Counter struct {
	conn *net.UDPConn
	n    atomic.Int64
	stop chan struct{}
	done chan struct{}
}

// Count starts counting what reaches c (as root, with a receive buffer
// larger than the system's usual bound, for bursts).
func Count(c *net.UDPConn) *Counter {
	forceRcvbuf(c, 16<<20)
	k := &Counter{conn: c, stop: make(chan struct{}), done: make(chan struct{})}
	go k.run()
	return k
}

func (k *Counter) run() {
	defer close(k.done)
	buf := make([]byte, 2048)
	for {
		_ = k.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, _, err := k.conn.ReadFromUDPAddrPort(buf); err == nil {
			k.n.Add(1)
			continue
		}
		select {
		case <-k.stop:
			return
		default:
		}
	}
}

// N is how many datagrams have been counted.
func (k *Counter) N() int64 { return k.n.Load() }

// WaitFor waits up to d for at least n datagrams; it reports whether they
// came.
func (k *Counter) WaitFor(n int64, d time.Duration) bool {
	for end := time.Now().Add(d); k.N() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			return false
		}
	}
	return true
}

// Stop ends the counting (the socket is left open) and returns the count.
func (k *Counter) Stop() int64 {
	close(k.stop)
	<-k.done
	return k.N()
}

// Ahead is how many datagrams SendPaced lets the sender be ahead of the
// Counter: well within a 16 MiB receive buffer, and within the usual
// 208 KiB one for packets of a few hundred bytes.
const Ahead = 100

// SendPaced calls send(i) for i from 0 to n-1, pausing every Ahead sends
// until k has counted all but Ahead of those sent (at most 5 s a pause),
// then waits up to 2 s for k to count all n. It returns the first error
// of send.
func SendPaced(k *Counter, n int, send func(i int) error) error {
	base := k.N()
	for i := range n {
		if i%Ahead == 0 {
			k.WaitFor(base+int64(i-Ahead), 5*time.Second)
		}
		if err := send(i); err != nil {
			return err
		}
	}
	k.WaitFor(base+int64(n), 2*time.Second)
	return nil
}
