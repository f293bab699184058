package proctest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// The UDP port ranges FreeUDPRange hands out lie below the kernel's
// ephemeral ports (32768 and up on Linux), which SIPp, baresip and every
// socket bound to port 0 take theirs from.
const (
	udpRangeLow  = 20000
	udpRangeHigh = 32767
)

// udpRanges are the ranges FreeUDPRange handed out to this process's
// tests and not yet released (first port -> last port). It is shared by
// every test of the process, which is what makes the ranges disjoint.
var udpRanges = struct {
	sync.Mutex
	held map[int]int
}{held: map[int]int{}}

// FreeUDPRange reserves n consecutive UDP ports for a server the test
// starts (a Hotline's rtp.port_min and rtp.port_max): the first is even,
// each of them was free on 127.0.0.1 a moment ago, and no other test of
// this process gets any of them until t ends. Another process may still
// take one meanwhile; a Hotline skips such ports.
func FreeUDPRange(t testing.TB, n int) (first, last int) {
	t.Helper()
	first, err := reserveUDPRange(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		udpRanges.Lock()
		delete(udpRanges.held, first)
		udpRanges.Unlock()
	})
	return first, first + n - 1
}

// reserveUDPRange finds n free ports from an even one and marks them
// held: it looks from a random even port upwards, past the ranges held
// and past each port found busy, wrapping around once.
func reserveUDPRange(n int) (int, error) {
	const span = udpRangeHigh - udpRangeLow + 1
	if n < 2 || n > span/4 {
		return 0, fmt.Errorf("proctest: %d UDP ports asked for, want 2 to %d", n, span/4)
	}
	top := udpRangeHigh - n + 1 // the highest first port
	origin := udpRangeLow + 2*rand.IntN((top-udpRangeLow)/2+1)
	first, wrapped, busy := origin, false, 0
	for {
		if first > top {
			if wrapped {
				break
			}
			first, wrapped = udpRangeLow, true
		}
		if wrapped && first >= origin {
			break
		}
		last := first + n - 1
		next := 0
		udpRanges.Lock()
		for f, l := range udpRanges.held {
			if first <= l && f <= last {
				next = l + 1 // past that range
				break
			}
		}
		if next == 0 {
			udpRanges.held[first] = last // held while its ports are checked
		}
		udpRanges.Unlock()
		if next == 0 {
			p, ok := udpPortsFree(first, last)
			if ok {
				return first, nil
			}
			udpRanges.Lock()
			delete(udpRanges.held, first)
			udpRanges.Unlock()
			busy, next = p, p+1 // past the busy port
		}
		first = next + next&1
	}
	return 0, fmt.Errorf("proctest: no %d free UDP ports in %d-%d (last busy port %d)", n, udpRangeLow, udpRangeHigh, busy)
}

// udpPortsFree binds each port of [first, last] on 127.0.0.1 in turn; it
// returns the first port that cannot be bound.
func udpPortsFree(first, last int) (int, bool) {
	for p := first; p <= last; p++ {
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return p, false
		}
		c.Close()
	}
	return 0, true
}
