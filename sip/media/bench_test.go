package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"hotline/audio"
	"hotline/recording"
)

// relayPair is two bridged legs with a phone on each side, for measuring
// the relay path over loopback.
type relayPair struct {
	c   *call
	pkt []byte
	buf []byte
}

func newRelayPair(t testing.TB, callerFmt, agentFmt Format) *relayPair {
	c := newCallOn(t, newTestPorts(t, 2), callerFmt, agentFmt)
	Bridge(c.callerLeg, c.agentLeg)
	pkt, err := audioPacket(callerFmt.PT, 1, 0, 0x5150, make([]byte, 160)).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r := &relayPair{c: c, pkt: pkt, buf: make([]byte, 1500)}
	_ = c.agent.conn.SetReadDeadline(time.Now().Add(time.Minute))
	r.roundTrip(t) // latch
	return r
}

// roundTrip sends one packet from the caller and reads it at the agent.
func (r *relayPair) roundTrip(t testing.TB) {
	if _, err := r.c.caller.conn.WriteToUDPAddrPort(r.pkt, r.c.callerLeg.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.c.agent.conn.ReadFromUDPAddrPort(r.buf); err != nil {
		t.Fatal(err)
	}
}

// newBareRelayPair is newRelayPair with the bare relay of
// BenchmarkRelayLoad on the two legs' sockets instead of the legs.
func newBareRelayPair(t testing.TB) *relayPair {
	ports := newTestPorts(t, 2)
	c := &call{caller: newPeer(t), agent: newPeer(t)}
	cfg := testConfig()
	c.callerLeg = newTestLeg(t, cfg, ports)
	c.agentLeg = newTestLeg(t, cfg, ports)
	x, y := &bareRelay{conn: c.callerLeg.conn}, &bareRelay{conn: c.agentLeg.conn}
	x.other, y.other = y, x
	var wg sync.WaitGroup
	wg.Add(2)
	go x.loop(&wg)
	go y.loop(&wg)
	t.Cleanup(func() {
		_, _ = c.callerLeg.Close(), c.agentLeg.Close()
		wg.Wait()
	})
	pkt, err := audioPacket(0, 1, 0, 0x5150, make([]byte, 160)).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c.agent.sendRaw(c.agentLeg.LocalAddr(), pkt) // the relay learns where the agent is
	waitFor(t, "agent's address learnt", func() bool { return y.peer.Load() != nil })
	r := &relayPair{c: c, pkt: pkt, buf: make([]byte, 1500)}
	_ = c.agent.conn.SetReadDeadline(time.Now().Add(time.Minute))
	r.roundTrip(t)
	return r
}

// recordRelayPair records r's call (file backend in a temporary
// directory) as Hotline does: a tap on each leg feeding one recorder.
func recordRelayPair(t testing.TB, r *relayPair, agentFmt Format) {
	rec := beginTestRecording(t, recording.CallInfo{CallID: "bench"})
	rec.SetFormat(recording.Agent, audio.PCMA().WithPT(agentFmt.PT))
	r.c.callerLeg.SetTap(func(p []byte, at time.Time) { rec.Packet(recording.Caller, p, at) })
	r.c.agentLeg.SetTap(func(p []byte, at time.Time) { rec.Packet(recording.Agent, p, at) })
	t.Cleanup(func() {
		r.c.callerLeg.SetTap(nil)
		r.c.agentLeg.SetTap(nil)
	})
}

// BenchmarkRelay measures one packet through two bridged legs over
// loopback: the phone's send, the leg's read, rewrite and send, the other
// phone's read, one packet at a time. allocs/op counts every allocation in
// the process. "bare" is the bare relay of BenchmarkRelayLoad on the same
// kind of sockets, for comparison; "recorded" adds a call recorder.
// The packets' sequence numbers do not advance (the recorder takes them
// as duplicates after the first): for the recorder's work per packet see
// BenchmarkRelayLoad.
func BenchmarkRelay(b *testing.B) {
	for _, bc := range []struct {
		name     string
		from, to Format
	}{{"bare", fmtPCMU, fmtPCMU}, {"same", fmtPCMU, fmtPCMU}, {"transcode", fmtPCMU, fmtPCMA}, {"recorded", fmtPCMU, fmtPCMA}} {
		b.Run(bc.name, func(b *testing.B) {
			var r *relayPair
			switch bc.name {
			case "bare":
				r = newBareRelayPair(b)
			case "recorded":
				r = newRelayPair(b, bc.from, bc.to)
				recordRelayPair(b, r, bc.to)
			default:
				r = newRelayPair(b, bc.from, bc.to)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(r.pkt)))
			for b.Loop() {
				r.roundTrip(b)
			}
		})
	}
}

// forwardPair is two bridged legs without sockets, latched, for measuring
// the per-packet work alone.
func forwardPair(from, to Format) (a *Leg, pkt []byte, src netip.AddrPort) {
	cfg := testConfig()
	a, b := newLeg(cfg, nopLogger()), newLeg(cfg, nopLogger())
	src = netip.MustParseAddrPort("127.0.0.1:4000")
	a.SetRemote(src, from)
	b.SetRemote(netip.MustParseAddrPort("127.0.0.1:5000"), to)
	Bridge(a, b)
	pkt, _ = audioPacket(from.PT, 1, 0, 0x5150, make([]byte, 160)).Marshal()
	a.process(pkt, src) // latch
	return a, pkt, src
}

// BenchmarkForward measures the per-packet function (validation, latching
// check, counters, payload type rewrite, transcoding) without sockets.
func BenchmarkForward(b *testing.B) {
	for _, bc := range []struct {
		name     string
		from, to Format
	}{{"same", fmtPCMU, fmtPCMU}, {"transcode", fmtPCMU, fmtPCMA}, {"dtmf", fmtPCMU, fmtPCMA}} {
		b.Run(bc.name, func(b *testing.B) {
			a, pkt, src := forwardPair(bc.from, bc.to)
			pt := bc.from.PT
			if bc.name == "dtmf" {
				pkt = pkt[:16]
				pt = bc.from.DTMFPT
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			for b.Loop() {
				pkt[1] = pt // undo the previous rewrite
				if _, _, ok := a.process(pkt, src); !ok {
					b.Fatal("not forwarded")
				}
			}
		})
	}
}

func TestForwardDoesNotAllocate(t *testing.T) {
	a, pkt, src := forwardPair(fmtPCMU, fmtPCMA)
	allocs := testing.AllocsPerRun(1000, func() {
		pkt[1] = 0
		if _, _, ok := a.process(pkt, src); !ok {
			t.Fatal("not forwarded")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per forwarded packet, want 0", allocs)
	}
}

func TestRelayDoesNotAllocate(t *testing.T) {
	r := newRelayPair(t, fmtPCMU, fmtPCMA)
	allocs := testing.AllocsPerRun(200, func() { r.roundTrip(t) })
	if allocs != 0 {
		t.Errorf("%v allocations per relayed packet (whole process), want 0", allocs)
	}
}

// bareRelay is the bare relay of cmd/hotline-load on a leg's socket: read,
// remember the source, write out of the other socket to its last source.
type bareRelay struct {
	conn  *net.UDPConn
	other *bareRelay
	peer  atomic.Pointer[netip.AddrPort]
}

func (s *bareRelay) loop(wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 1600)
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if p := s.peer.Load(); p == nil || *p != src {
			s.peer.Store(&src)
		}
		if dst := s.other.peer.Load(); dst != nil {
			_, _ = s.other.conn.WriteToUDPAddrPort(buf[:n], *dst)
		}
	}
}
