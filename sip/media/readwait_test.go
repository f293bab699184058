//go:build linux && !nommsg

package media

import (
	"testing"
	"time"
)

// TestReadDelay: packets that waited in a leg's socket before it was
// read (here: sent 300 ms before Start) show as the RTP read delay, the
// least wait of the reads since the last take; a packet read as it
// arrives then shows a short one, and no read shows none.
func TestReadDelay(t *testing.T) {
	cfg := testConfig()
	ports := newTestPorts(t, 4)
	if _, n := ports.TakeReadDelay(); n != 0 {
		t.Fatalf("%d reads before any leg", n)
	}
	caller := newPeer(t)
	cl := newTestLeg(t, cfg, ports)
	cl.SetRemote(caller.addr(), fmtPCMU)
	for i := range 3 {
		caller.send(cl.LocalAddr(), audioPacket(fmtPCMU.PT, uint16(i), uint32(i)*160, 5, make([]byte, 160)))
	}
	time.Sleep(300 * time.Millisecond)
	cl.Start()
	waitFor(t, "the queued packets read", func() bool { return cl.Stats().PacketsIn == 3 })
	least, n := ports.TakeReadDelay()
	if n == 0 || least < 300*time.Millisecond || least > 10*time.Second {
		t.Fatalf("read delay after packets waited 300 ms: %v over %d reads, want at least 300ms", least, n)
	}
	if _, n := ports.TakeReadDelay(); n != 0 {
		t.Errorf("%d reads counted again after a take", n)
	}
	caller.send(cl.LocalAddr(), audioPacket(fmtPCMU.PT, 3, 3*160, 5, make([]byte, 160)))
	waitFor(t, "the next packet read", func() bool { return cl.Stats().PacketsIn == 4 })
	least, n = ports.TakeReadDelay()
	if n != 1 || least >= 300*time.Millisecond {
		t.Errorf("read delay of a packet read as it came: %v over %d reads, want one read, well under 300ms", least, n)
	}
}
