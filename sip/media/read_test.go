package media

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// queuedCall is newCall with the legs bridged but not started: packets
// sent to them queue up in their sockets until start.
func queuedCall(t *testing.T, callerFmt, agentFmt Format) (c *call, start func()) {
	t.Helper()
	ports := newTestPorts(t, 2)
	c = &call{caller: newPeer(t), agent: newPeer(t)}
	cfg := testConfig()
	c.callerLeg = newTestLeg(t, cfg, ports)
	c.agentLeg = newTestLeg(t, cfg, ports)
	c.callerLeg.SetRemote(c.caller.addr(), callerFmt)
	c.agentLeg.SetRemote(c.agent.addr(), agentFmt)
	Bridge(c.callerLeg, c.agentLeg)
	return c, func() {
		c.callerLeg.Start()
		c.agentLeg.Start()
	}
}

// TestBurstRelayedInOrder: packets that arrive faster than the leg reads
// them (a burst after a network stall) are all relayed, in order, none
// held back until a later packet comes.
func TestBurstRelayedInOrder(t *testing.T) {
	c, start := queuedCall(t, fmtPCMU, fmtPCMA)
	const n = 41
	for i := range n {
		c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, uint16(1000+i), uint32(160*i), 0xB0, make([]byte, 160)))
	}
	start()
	for i := range n {
		pkt, _ := c.agent.mustRecv()
		if pkt.SequenceNumber != uint16(1000+i) || pkt.PayloadType != 8 {
			t.Fatalf("packet %d: seq %d PT %d, want seq %d PT 8", i, pkt.SequenceNumber, pkt.PayloadType, 1000+i)
		}
	}
	c.agent.expectNothing(50 * time.Millisecond)
}

// TestKeyPressInBurst: key presses that end in the middle of a burst are
// reported once each, and the packets around them are relayed in order:
// the telephone-events to the agent's telephone-event payload type.
func TestKeyPressInBurst(t *testing.T) {
	c, start := queuedCall(t, fmtPCMU, fmtPCMA)
	digits := make(chan rune, 10)
	c.callerLeg.OnDTMF(func(d rune) { digits <- d })
	to := c.callerLeg.LocalAddr()
	seq := uint16(1)
	events := map[uint16]bool{}
	voice := func(n int) {
		for range n {
			c.caller.send(to, audioPacket(0, seq, uint32(seq)*160, 0xD7, make([]byte, 160)))
			seq++
		}
	}
	press := func(event byte) { // the three end packets of a key press
		ts := uint32(seq) * 160
		for range 3 {
			events[seq] = true
			c.caller.send(to, dtmfPacket(101, seq, ts, event, true, 640, false))
			seq++
		}
	}
	// The presses start at an odd and an even place of the burst.
	voice(4)
	press(5)
	voice(2)
	press(7)
	voice(4)
	start()
	for want := uint16(1); want < seq; want++ {
		pkt, _ := c.agent.mustRecv()
		wantPT := uint8(8)
		if events[want] {
			wantPT = 96
		}
		if pkt.SequenceNumber != want || pkt.PayloadType != wantPT {
			t.Fatalf("got seq %d PT %d, want seq %d PT %d", pkt.SequenceNumber, pkt.PayloadType, want, wantPT)
		}
	}
	var got []rune
	for len(got) < 2 {
		select {
		case d := <-digits:
			got = append(got, d)
		case <-time.After(3 * time.Second):
			t.Fatalf("key presses reported: %q, want \"57\"", string(got))
		}
	}
	select {
	case d := <-digits:
		got = append(got, d)
	case <-time.After(50 * time.Millisecond):
	}
	if string(got) != "57" {
		t.Errorf("key presses reported: %q, want \"57\"", string(got))
	}
}

// TestOversizedDatagramDropped: a datagram too large for the read buffer
// (not a sane RTP packet) is counted as dropped, not relayed cut short.
func TestOversizedDatagramDropped(t *testing.T) {
	c := newCall(t, fmtPCMU, fmtPCMU)
	Bridge(c.callerLeg, c.agentLeg)
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 1, 0, 0xB1, make([]byte, 1700)))
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 2, 160, 0xB1, make([]byte, 160)))
	pkt, _ := c.agent.mustRecv()
	if pkt.SequenceNumber != 2 || len(pkt.Payload) != 160 {
		t.Fatalf("relayed seq %d with %d payload bytes, want seq 2 with 160", pkt.SequenceNumber, len(pkt.Payload))
	}
	if st := c.callerLeg.Stats(); st.Dropped != 1 || st.PacketsIn != 1 {
		t.Errorf("stats %+v, want 1 dropped, 1 in", st)
	}
}

// TestRTCPIsNotMedia: RTCP from the phone (to the RTP port + 1) does not
// keep a leg whose RTP stopped from timing out.
func TestRTCPIsNotMedia(t *testing.T) {
	cfg := testConfig()
	cfg.Timeout = 300 * time.Millisecond
	ports := newTestPorts(t, 1)
	leg := newTestLeg(t, cfg, ports)
	phone := newPeer(t)
	leg.SetRemote(phone.addr(), fmtPCMU)
	leg.Start()
	rtcp := netip.AddrPortFrom(leg.LocalAddr().Addr(), leg.LocalAddr().Port()+1)
	sr := []byte{0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	deadline := time.After(5 * time.Second)
	for {
		phone.sendRaw(rtcp, sr)
		select {
		case <-leg.Done():
			if leg.Err() != ErrTimeout {
				t.Fatalf("Err = %v, want ErrTimeout", leg.Err())
			}
			return
		case <-deadline:
			t.Fatal("leg receiving only RTCP did not time out")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestIPv6Relay: legs on an IPv6 address relay both ways and latch the
// phones' IPv6 sources like IPv4 ones.
func TestIPv6Relay(t *testing.T) {
	cfg := testConfig()
	cfg.IP = "::1"
	ports := newTestPorts(t, 2)
	v6peer := func() *peer {
		c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return &peer{t: t, conn: c}
	}
	caller, agent, intruder := v6peer(), v6peer(), v6peer()
	a, b := newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports)
	a.SetRemote(caller.addr(), fmtPCMU)
	b.SetRemote(agent.addr(), fmtPCMA)
	a.Start()
	b.Start()
	Bridge(a, b)
	caller.send(a.LocalAddr(), audioPacket(0, 1, 0, 0x66, make([]byte, 160)))
	if pkt, from := agent.mustRecv(); pkt.PayloadType != 8 || from != b.LocalAddr() {
		t.Errorf("agent got PT %d from %s, want 8 from %s", pkt.PayloadType, from, b.LocalAddr())
	}
	agent.send(b.LocalAddr(), audioPacket(8, 1, 0, 0x67, make([]byte, 160)))
	if pkt, from := caller.mustRecv(); pkt.PayloadType != 0 || from != a.LocalAddr() {
		t.Errorf("caller got PT %d from %s, want 0 from %s", pkt.PayloadType, from, a.LocalAddr())
	}
	intruder.send(a.LocalAddr(), audioPacket(0, 2, 160, 0x66, make([]byte, 160)))
	waitFor(t, "intruder dropped", func() bool { return a.Stats().Dropped == 1 })
	agent.expectNothing(50 * time.Millisecond)
}
