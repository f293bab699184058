//go:build linux

package krelay

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"hotline/internal/udptest"
)

func udp(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func rtp(pt byte, seq uint16, payload byte) []byte {
	p := make([]byte, 12+160)
	p[0], p[1] = 0x80, pt
	p[2], p[3] = byte(seq>>8), byte(seq)
	p[8] = 0x11 // SSRC
	for i := 12; i < len(p); i++ {
		p[i] = payload
	}
	return p
}

// recv reads one datagram from c within d; ok false if none came.
func recv(t *testing.T, c *net.UDPConn, d time.Duration) (p []byte, from netip.AddrPort, ok bool) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(d))
	n, a, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, a, false
		}
		t.Fatal(err)
	}
	return buf[:n], a, true
}

// collector gathers what Run hands over.
type collector struct {
	mu  sync.Mutex
	got []Packet
}

func (c *collector) handle(b []Packet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range b {
		p.Data = bytes.Clone(p.Data)
		c.got = append(c.got, p)
	}
}

func (c *collector) wait(t *testing.T, n int) []Packet {
	t.Helper()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		c.mu.Lock()
		if len(c.got) >= n {
			g := append([]Packet(nil), c.got...)
			c.mu.Unlock()
			return g
		}
		c.mu.Unlock()
	}
	t.Fatalf("the ring gave fewer than %d packets", n)
	return nil
}

// running opens the relay on the loopback with Run handing its packets to
// a collector; Close and Run's end are checked when the test ends.
func running(t *testing.T) (*Relay, *collector) {
	t.Helper()
	r, err := Open(16, "lo")
	if err != nil {
		t.Fatalf("the kernel relay is needed (root, Linux 6.6+): %v", err)
	}
	col := &collector{}
	done := make(chan error, 1)
	go func() { done <- r.Run(col.handle, nil) }()
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return r, col
}

// TestRelayOnLoopback bridges two legs in the kernel, with real sockets
// on 127.0.0.1: a caller's audio reaches the agent from the agent leg's
// address with the agent's payload type, never the leg's socket, and the
// ring gives the packet as the caller sent it; what the kernel must not
// take (a telephone-event, another source, after Remove) reaches the leg's
// socket.
func TestRelayOnLoopback(t *testing.T) {
	r, col := running(t)

	caller, agent := udp(t), udp(t)
	legA, legB := udp(t), udp(t) // Hotline's caller leg and agent leg
	if err := r.Install(addr(legA), Flow{ID: 1, From: addr(caller), PT: 0, OutFrom: addr(legB), OutTo: addr(agent), OutPT: 8}); err != nil {
		t.Fatal(err)
	}
	if err := r.Install(addr(legB), Flow{ID: 2, From: addr(agent), PT: 8, OutFrom: addr(legA), OutTo: addr(caller), OutPT: 0}); err != nil {
		t.Fatal(err)
	}

	sent := rtp(0, 1, 0x55)
	if _, err := caller.WriteToUDPAddrPort(sent, addr(legA)); err != nil {
		t.Fatal(err)
	}
	p, from, ok := recv(t, agent, time.Second)
	if !ok {
		t.Fatal("the agent got nothing")
	}
	if from != addr(legB) {
		t.Errorf("the agent got it from %s, want the agent leg %s", from, addr(legB))
	}
	if p[1]&0x7f != 8 || !bytes.Equal(p[2:], sent[2:]) {
		t.Errorf("the agent got pt %d and a changed packet; want pt 8 and the rest as sent", p[1]&0x7f)
	}
	if _, _, ok := recv(t, legA, 50*time.Millisecond); ok {
		t.Error("the caller leg's socket got the relayed packet too")
	}
	back := rtp(8, 7, 0x2a)
	if _, err := agent.WriteToUDPAddrPort(back, addr(legB)); err != nil {
		t.Fatal(err)
	}
	if p, from, ok := recv(t, caller, time.Second); !ok || from != addr(legA) || p[1] != 0 {
		t.Fatalf("the caller got ok=%v from %s pt %d; want the caller leg %s, pt 0", ok, from, p[1], addr(legA))
	}
	got := col.wait(t, 2)
	if got[0].ID != 1 || !bytes.Equal(got[0].Data, sent) || got[1].ID != 2 || !bytes.Equal(got[1].Data, back) {
		t.Errorf("ring: %d %x, %d ...; want leg 1 with the packet as sent, then leg 2", got[0].ID, got[0].Data[:4], got[1].ID)
	}
	if d := time.Since(got[0].At); d < 0 || d > 5*time.Second {
		t.Errorf("arrival %v is %v from now", got[0].At, d)
	}

	// A telephone-event (pt 101) and a packet from another source go to
	// the leg's socket, untouched.
	dtmf := rtp(101, 2, 0x01)
	caller.WriteToUDPAddrPort(dtmf, addr(legA))
	if p, _, ok := recv(t, legA, time.Second); !ok || !bytes.Equal(p, dtmf) {
		t.Error("the telephone-event did not reach the caller leg's socket as sent")
	}
	stranger := udp(t)
	stranger.WriteToUDPAddrPort(rtp(0, 3, 0x33), addr(legA))
	if _, from, ok := recv(t, legA, time.Second); !ok || from != addr(stranger) {
		t.Error("another source's packet did not reach the caller leg's socket")
	}
	if _, _, ok := recv(t, agent, 50*time.Millisecond); ok {
		t.Error("the agent got a packet the kernel should have passed up")
	}

	st, err := r.Stats(addr(legA))
	if err != nil || st.Packets != 1 || st.Bytes != uint64(len(sent)) || st.Missed != 0 {
		t.Errorf("stats of the caller leg: %+v, %v; want 1 packet, %d bytes, none missed", st, err, len(sent))
	}
	if c, err := r.Counters(); err != nil || c.Relayed != 2 {
		t.Errorf("counters %+v, %v; want 2 relayed", c, err)
	}

	// After Remove the leg's socket gets the audio again.
	if st, err := r.Remove(addr(legA)); err != nil || st.Packets != 1 {
		t.Errorf("remove: %+v, %v", st, err)
	}
	caller.WriteToUDPAddrPort(rtp(0, 4, 0x44), addr(legA))
	if _, _, ok := recv(t, legA, time.Second); !ok {
		t.Error("after Remove the caller leg's socket got nothing")
	}
	if _, err := r.Remove(addr(legA)); err != nil {
		t.Errorf("a second remove: %v", err)
	}
}

// TestLongPacketGoesUp: a packet longer than a ring record is not relayed
// in the kernel (the recorder must get every packet) but reaches the leg.
func TestLongPacketGoesUp(t *testing.T) {
	r, err := Open(16, "lo")
	if err != nil {
		t.Fatalf("the kernel relay is needed (root, Linux 6.6+): %v", err)
	}
	defer r.Close()
	caller, agent, legA, legB := udp(t), udp(t), udp(t), udp(t)
	if err := r.Install(addr(legA), Flow{ID: 1, From: addr(caller), OutFrom: addr(legB), OutTo: addr(agent)}); err != nil {
		t.Fatal(err)
	}
	long := make([]byte, DataMax+1)
	long[0] = 0x80
	caller.WriteToUDPAddrPort(long, addr(legA))
	if p, _, ok := recv(t, legA, time.Second); !ok || len(p) != len(long) {
		t.Fatal("the long packet did not reach the leg's socket")
	}
	if c, err := r.Counters(); err != nil || c.TooLong != 1 || c.Relayed != 0 {
		t.Errorf("counters %+v, %v; want 1 too long, none relayed", c, err)
	}
	if err := r.Install(netip.MustParseAddrPort("[::1]:4000"), Flow{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("an IPv6 flow: %v, want ErrUnsupported", err)
	}
}

func TestRingBytes(t *testing.T) {
	for legs, want := range map[int]int{0: 4 << 20, 100: 4 << 20, 500: 16 << 20, 1000: 32 << 20, 5000: 64 << 20, 30000: 64 << 20} {
		if got := RingBytes(legs); got != want {
			t.Errorf("RingBytes(%d) = %d MiB, want %d", legs, got>>20, want>>20)
		}
	}
}

// TestObjectIsBuiltFromSource rebuilds the BPF object with `make bpf` and
// compares it with the committed (embedded) one.
func TestObjectIsBuiltFromSource(t *testing.T) {
	out := filepath.Join(t.TempDir(), "relay.o")
	cmd := exec.Command("make", "-s", "-C", "../../..", "bpf", "BPF_OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make bpf (needs clang-14 and libbpf-dev, which make deps installs): %v\n%s", err, b)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, object) {
		t.Error("relay_bpfel.o is not what bpf/relay.bpf.c builds: run make bpf and commit it")
	}
}

// TestSyncHandsOverTheRest relays a burst and removes the flow at once, as
// a leg that ends does: by the time Sync returns, the handler has every
// copy the kernel relayed, although the reader polls (pollEvery) and the
// program never wakes it. Without Sync the copies would arrive up to a poll
// later, after the leg had let go of its recorder.
func TestSyncHandsOverTheRest(t *testing.T) {
	r, col := running(t)

	caller, agent, legA, legB := udp(t), udp(t), udp(t), udp(t)
	if err := r.Install(addr(legA), Flow{ID: 1, From: addr(caller), PT: 0, OutFrom: addr(legB), OutTo: addr(agent), OutPT: 0}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * pollEvery) // the reader is polling, between two reads
	const n = 40
	for i := range n {
		if _, err := caller.WriteToUDPAddrPort(rtp(0, uint16(i), 0x55), addr(legA)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, _, ok := recv(t, agent, time.Second); !ok {
			t.Fatalf("the agent got %d of %d packets", i, n)
		}
	}
	st, err := r.Remove(addr(legA))
	if err != nil || st.Packets != n {
		t.Fatalf("Remove: %+v, %v; want %d packets relayed", st, err, n)
	}
	r.Sync()
	col.mu.Lock()
	got := len(col.got)
	col.mu.Unlock()
	if got != n {
		t.Fatalf("after Sync the handler had %d of the %d copies", got, n)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r.Sync() // after Close: returns at once
}

// TestFlowTableHoldsAFlowPerLeg: the flow table is sized to the legs it
// was opened for; a flow beyond them is refused (the leg then relays in
// user space) and replacing or removing one frees nothing it should not.
func TestFlowTableHoldsAFlowPerLeg(t *testing.T) {
	r, err := Open(2, "lo")
	if err != nil {
		t.Fatalf("the kernel relay is needed (root, Linux 6.6+): %v", err)
	}
	defer r.Close()
	at := func(p uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p) }
	f := Flow{ID: 1, From: at(9000), OutFrom: at(9002), OutTo: at(9004)}
	for _, p := range []uint16{20000, 20002, 20000} { // the third replaces the first
		if err := r.Install(at(p), f); err != nil {
			t.Fatalf("install %d: %v", p, err)
		}
	}
	if err := r.Install(at(20004), f); err == nil {
		t.Fatal("a third leg's flow fit in a table for two legs")
	}
	if _, err := r.Remove(at(20002)); err != nil {
		t.Fatal(err)
	}
	if err := r.Install(at(20004), f); err != nil {
		t.Fatalf("after a removal: %v", err)
	}
}

// TestReadsDuringClose: the counters and flows may be read while the
// relay closes (a metrics scrape during a shutdown); once it is closed
// they say so (ErrClosed) instead of reading closed maps.
func TestReadsDuringClose(t *testing.T) {
	r, err := Open(16, "lo")
	if err != nil {
		t.Fatalf("the kernel relay is needed (root, Linux 6.6+): %v", err)
	}
	leg := netip.MustParseAddrPort("127.0.0.1:4000")
	flow := Flow{ID: 1, From: netip.MustParseAddrPort("127.0.0.1:4002"),
		OutFrom: netip.MustParseAddrPort("127.0.0.1:4004"), OutTo: netip.MustParseAddrPort("127.0.0.1:4006")}
	if err := r.Install(leg, flow); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10000 {
			_, err := r.Counters()
			_, serr := r.Stats(leg)
			if errors.Is(err, ErrClosed) && errors.Is(serr, ErrClosed) {
				return
			}
		}
	}()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	if _, err := r.Counters(); !errors.Is(err, ErrClosed) {
		t.Errorf("Counters after Close: %v, want ErrClosed", err)
	}
	if err := r.Install(leg, flow); !errors.Is(err, ErrClosed) {
		t.Errorf("Install after Close: %v, want ErrClosed", err)
	}
	if _, err := r.Remove(leg); !errors.Is(err, ErrClosed) {
		t.Errorf("Remove after Close: %v, want ErrClosed", err)
	}
}

// TestRecordSizes: a packet that fits a small ring record and the longer
// ones that take a full-size record are relayed and reach user space as
// received, whole.
func TestRecordSizes(t *testing.T) {
	r, col := running(t)
	caller, agent, legA, legB := udp(t), udp(t), udp(t), udp(t)
	if err := r.Install(addr(legA), Flow{ID: 7, From: addr(caller), OutFrom: addr(legB), OutTo: addr(agent)}); err != nil {
		t.Fatal(err)
	}
	sizes := []int{12, smallMax - 1, smallMax, smallMax + 1, DataMax}
	for i, n := range sizes {
		p := make([]byte, n)
		p[0], p[3] = 0x80, byte(i)
		for j := 12; j < n; j++ {
			p[j] = byte(j + i)
		}
		caller.WriteToUDPAddrPort(p, addr(legA))
		if got, _, ok := recv(t, agent, time.Second); !ok || len(got) != n || !bytes.Equal(got[12:], p[12:]) {
			t.Fatalf("a %d-byte packet: the agent got %d bytes (ok %v)", n, len(got), ok)
		}
	}
	got := col.wait(t, len(sizes))
	for i, n := range sizes {
		if len(got[i].Data) != n || got[i].Data[3] != byte(i) || n > 12 && got[i].Data[n-1] != byte(n-1+i) {
			t.Errorf("ring record %d: %d bytes, want the %d-byte packet as sent", i, len(got[i].Data), n)
		}
	}
}

// TestRingHoldsSmallRecords: with nobody reading the ring, the smallest
// ring (minRingBytes) takes 16,000 20 ms G.711 packets, which full-size
// records (344 bytes in the ring) would not fit: each one's copy is kept.
func TestRingHoldsSmallRecords(t *testing.T) {
	r, err := Open(16, "lo")
	if err != nil {
		t.Fatalf("the kernel relay is needed (root, Linux 6.6+): %v", err)
	}
	defer r.Close()
	if RingBytes(16) != minRingBytes || 16000*(8+recordLen) <= minRingBytes {
		t.Fatalf("the test assumes a %d-byte ring that 16,000 full-size records overflow", minRingBytes)
	}
	caller, agent, legA, legB := udp(t), udp(t), udp(t), udp(t)
	if err := r.Install(addr(legA), Flow{ID: 1, From: addr(caller), OutFrom: addr(legB), OutTo: addr(agent)}); err != nil {
		t.Fatal(err)
	}
	for i := range 16000 {
		if _, err := caller.WriteToUDPAddrPort(rtp(0, uint16(i), 0x55), addr(legA)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := r.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Relayed != 16000 || c.RingFull != 0 {
		t.Errorf("counters %+v: want 16000 relayed, none without its copy for a full ring", c)
	}
}

// TestReadWaited: Run tells how long the oldest copy of each read had
// waited in the ring: copies relayed 300 ms before Run started show
// 300 ms, a copy read as the kernel relays it a short wait.
func TestReadWaited(t *testing.T) {
	r, err := Open(16, "lo")
	if err != nil {
		t.Fatalf("the kernel relay is needed (root, Linux 6.6+): %v", err)
	}
	caller, agent, legA, legB := udp(t), udp(t), udp(t), udp(t)
	if err := r.Install(addr(legA), Flow{ID: 3, From: addr(caller), OutFrom: addr(legB), OutTo: addr(agent)}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		caller.WriteToUDPAddrPort(rtp(0, uint16(i), 0x66), addr(legA))
		if _, _, ok := recv(t, agent, time.Second); !ok {
			t.Fatal("the agent got nothing")
		}
	}
	time.Sleep(300 * time.Millisecond)
	var mu sync.Mutex
	var waits []time.Duration
	taken := func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		w := waits
		waits = nil
		return w
	}
	col := &collector{}
	done := make(chan error, 1)
	go func() {
		done <- r.Run(col.handle, func(d time.Duration) {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
		})
	}()
	defer func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	col.wait(t, 3)
	if w := taken(); len(w) != 1 || w[0] < 300*time.Millisecond || w[0] > 10*time.Second {
		t.Fatalf("waits told for the copies held 300 ms: %v, want one read of at least 300ms", w)
	}
	caller.WriteToUDPAddrPort(rtp(0, 3, 0x66), addr(legA))
	col.wait(t, 4)
	if w := taken(); len(w) != 1 || w[0] >= 300*time.Millisecond {
		t.Errorf("waits told for a copy read as relayed: %v, want one, well under 300ms", w)
	}
}

// sendDrained has caller send n 20 ms G.711 packets to leg while what
// reaches agent is read and counted (udptest), pacing the sender so that
// the agent's socket never overflows; it returns how many reached agent
// and how many reached leg's own socket (the user-space relay's).
func sendDrained(t *testing.T, caller, agent, leg *net.UDPConn, n int) (atAgent, atLeg int) {
	t.Helper()
	k := udptest.Count(agent)
	err := udptest.SendPaced(k, n, func(i int) error {
		_, err := caller.WriteToUDPAddrPort(rtp(0, uint16(i), 0x55), addr(leg))
		return err
	})
	atAgent = int(k.Stop())
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, ok := recv(t, leg, 20*time.Millisecond); !ok {
			break
		}
		atLeg++
	}
	return atAgent, atLeg
}

// TestFullRingRelaysAnyway: with the ring's reader held up (its handler
// blocked) until the ring is full, the kernel still relays every packet to
// the agent, none goes to the leg's socket, and the copies it could not
// keep are counted (ring_full, the flow's Missed); once the reader catches
// up, the leg's next copy tells them (Packet.Missed), and the ring gave
// every other copy.
func TestFullRingRelaysAnyway(t *testing.T) {
	r, err := Open(16, "lo")
	if err != nil {
		t.Fatalf("the kernel relay is needed (root, Linux 6.6+): %v", err)
	}
	gate := make(chan struct{})
	var open sync.Once
	release := func() { open.Do(func() { close(gate) }) }
	col := &collector{}
	done := make(chan error, 1)
	go func() {
		done <- r.Run(func(b []Packet) {
			<-gate
			col.handle(b)
		}, nil)
	}()
	defer func() {
		release()
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	caller, agent, legA, legB := udp(t), udp(t), udp(t), udp(t)
	if err := r.Install(addr(legA), Flow{ID: 5, From: addr(caller), OutFrom: addr(legB), OutTo: addr(agent)}); err != nil {
		t.Fatal(err)
	}
	const n = 24000 // a 4 MiB ring holds 20,971 small records
	atAgent, atLeg := sendDrained(t, caller, agent, legA, n)
	if atAgent != n || atLeg != 0 {
		t.Fatalf("the agent got %d of %d packets and the leg's socket %d; want all relayed, none left to the socket", atAgent, n, atLeg)
	}
	c, err := r.Counters()
	if err != nil {
		t.Fatal(err)
	}
	missed := c.RingFull
	if c.Relayed != n || missed == 0 || missed > n-16000 {
		t.Fatalf("counters %+v: want %d relayed, some of them (at most %d) without a copy", c, n, n-16000)
	}
	if st, err := r.Stats(addr(legA)); err != nil || st.Missed != missed {
		t.Fatalf("the flow's stats %+v, %v; want %d copies missed", st, err, missed)
	}
	release()
	kept := n - int(missed)
	got := col.wait(t, kept)
	for _, p := range got {
		if p.Missed != 0 {
			t.Fatalf("a copy kept before the ring filled tells %d missed, want 0", p.Missed)
		}
	}
	caller.WriteToUDPAddrPort(rtp(0, n, 0x55), addr(legA))
	if _, _, ok := recv(t, agent, time.Second); !ok {
		t.Fatal("the agent got nothing once the reader caught up")
	}
	got = col.wait(t, kept+1)
	if last := got[kept]; last.Missed != uint16(missed) || last.Data[3] != byte(n%256) {
		t.Errorf("the next copy tells %d missed (seq byte %d), want %d", last.Missed, last.Data[3], missed)
	}
	if st, err := r.Remove(addr(legA)); err != nil || st.Missed != 0 || st.Packets != n+1 {
		t.Errorf("Remove: %+v, %v; want %d packets and none missed left to tell", st, err, n+1)
	}
}

// TestRemoveTellsTheMissedCopies: copies missed after the leg's last
// record (the ring full to the end) are told by Remove.
func TestRemoveTellsTheMissedCopies(t *testing.T) {
	r, err := Open(16, "lo")
	if err != nil {
		t.Fatalf("the kernel relay is needed (root, Linux 6.6+): %v", err)
	}
	defer r.Close()
	caller, agent, legA, legB := udp(t), udp(t), udp(t), udp(t)
	if err := r.Install(addr(legA), Flow{ID: 6, From: addr(caller), OutFrom: addr(legB), OutTo: addr(agent)}); err != nil {
		t.Fatal(err)
	}
	const n = 22000
	if atAgent, atLeg := sendDrained(t, caller, agent, legA, n); atAgent != n || atLeg != 0 {
		t.Fatalf("the agent got %d of %d packets and the leg's socket %d", atAgent, n, atLeg)
	}
	c, err := r.Counters()
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Remove(addr(legA))
	if err != nil || c.RingFull == 0 || st.Missed != c.RingFull || st.Packets != n {
		t.Errorf("Remove: %+v, %v; want %d packets, %d missed (ring_full, not 0)", st, err, n, c.RingFull)
	}
}
