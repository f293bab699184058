package media

import (
	"bytes"
	"encoding/binary"
	"hotline/audio"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

var (
	fmtPCMU = Format{PT: 0, Encoding: audio.ULaw, DTMFPT: 101}
	fmtPCMA = Format{PT: 8, Encoding: audio.ALaw, DTMFPT: 96}
)

// call is a caller phone and an agent phone, each with its leg on Hotline.
type call struct {
	caller, agent       *peer
	callerLeg, agentLeg *Leg
}

func newCall(t *testing.T, callerFmt, agentFmt Format) *call {
	t.Helper()
	return newCallOn(t, newTestPorts(t, 2), callerFmt, agentFmt)
}

// newCallOn is newCall with the legs' ports from ports.
func newCallOn(t testing.TB, ports *Ports, callerFmt, agentFmt Format) *call {
	t.Helper()
	c := &call{caller: newPeer(t), agent: newPeer(t)}
	cfg := testConfig()
	c.callerLeg = newTestLeg(t, cfg, ports)
	c.agentLeg = newTestLeg(t, cfg, ports)
	c.callerLeg.SetRemote(c.caller.addr(), callerFmt)
	c.agentLeg.SetRemote(c.agent.addr(), agentFmt)
	c.callerLeg.Start()
	c.agentLeg.Start()
	return c
}

func TestRelayTranscodes(t *testing.T) {
	c := newCall(t, fmtPCMU, fmtPCMA)
	unbridge := Bridge(c.callerLeg, c.agentLeg)

	// Every µ-law byte; each must arrive as the A-law code of (nearly) the
	// same value. Anchors: µ 0xFF (zero) = A 0xD5 (smallest positive),
	// µ 0x80 (full scale +) = A 0xAA, µ 0x00 (full scale -) = A 0x2A.
	ulaw := make([]byte, 256)
	for i := range ulaw {
		ulaw[i] = byte(i)
	}
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 1000, 160, 0x1111, ulaw))
	got, from := c.agent.mustRecv()
	if from != c.agentLeg.LocalAddr() {
		t.Errorf("agent got packet from %s, want its leg %s", from, c.agentLeg.LocalAddr())
	}
	if got.PayloadType != 8 || got.SequenceNumber != 1000 || got.Timestamp != 160 || got.SSRC != 0x1111 {
		t.Errorf("relayed header %+v: want PT 8 and seq/ts/ssrc kept", got.Header)
	}
	if len(got.Payload) != 256 {
		t.Fatalf("payload %d bytes, want 256", len(got.Payload))
	}
	for ul, al := range map[byte]byte{0xFF: 0xD5, 0x80: 0xAA, 0x00: 0x2A} {
		if got.Payload[ul] != al {
			t.Errorf("µ-law %#02x became A-law %#02x, want %#02x", ul, got.Payload[ul], al)
		}
	}
	for i, a := range got.Payload {
		want, have := int(g711.DecodeUlawFrame(byte(i))), int(g711.DecodeAlawFrame(a))
		if d := abs(want - have); d > abs(want)/16+16 {
			t.Errorf("µ-law %#02x (%d) relayed as A-law %#02x (%d)", i, want, a, have)
		}
	}

	// And back: A-law from the agent arrives at the caller as µ-law PT 0.
	alaw := make([]byte, 256)
	for i := range alaw {
		alaw[i] = byte(i)
	}
	c.agent.send(c.agentLeg.LocalAddr(), audioPacket(8, 7, 320, 0x2222, alaw))
	got, from = c.caller.mustRecv()
	if from != c.callerLeg.LocalAddr() || got.PayloadType != 0 || got.SSRC != 0x2222 || len(got.Payload) != 256 {
		t.Fatalf("caller got PT %d SSRC %#x from %s, %d bytes", got.PayloadType, got.SSRC, from, len(got.Payload))
	}
	if got.Payload[0xAA] != 0x80 || got.Payload[0x2A] != 0x00 {
		t.Errorf("A-law full scale became µ-law %#02x %#02x, want 0x80 0x00", got.Payload[0xAA], got.Payload[0x2A])
	}
	for i, u := range got.Payload {
		want, have := int(g711.DecodeAlawFrame(byte(i))), int(g711.DecodeUlawFrame(u))
		if d := abs(want - have); d > abs(want)/16+16 {
			t.Errorf("A-law %#02x (%d) relayed as µ-law %#02x (%d)", i, want, u, have)
		}
	}

	waitFor(t, "caller leg counters", func() bool {
		st := c.callerLeg.Stats()
		return st.PacketsIn == 1 && st.PacketsOut == 1 && st.BytesIn == 12+256 && st.BytesOut == 12+256 && !st.LastPacket.IsZero()
	})

	// After unbridge nothing is relayed, but the leg still receives.
	unbridge()
	unbridge()
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 1001, 320, 0x1111, ulaw[:160]))
	waitFor(t, "second packet counted", func() bool { return c.callerLeg.Stats().PacketsIn == 2 })
	c.agent.expectNothing(100 * time.Millisecond)
}

func TestRelaySameCodecKeepsPayload(t *testing.T) {
	c := newCall(t, Format{PT: 8, Encoding: audio.ALaw}, Format{PT: 8, Encoding: audio.ALaw})
	Bridge(c.callerLeg, c.agentLeg)
	payload := []byte{1, 2, 3, 4, 5}
	pkt := audioPacket(8, 1, 2, 3, payload)
	pkt.Marker = true
	c.caller.send(c.callerLeg.LocalAddr(), pkt)
	got, _ := c.agent.mustRecv()
	if !got.Marker || got.PayloadType != 8 || !bytes.Equal(got.Payload, payload) {
		t.Errorf("got %v % x", got.Header, got.Payload)
	}
}

func TestRelayTelephoneEvents(t *testing.T) {
	c := newCall(t, fmtPCMU, fmtPCMA)
	Bridge(c.callerLeg, c.agentLeg)
	ev := []byte{5, 0x0a, 0x00, 0xa0}
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(101, 1, 100, 9, ev))
	got, _ := c.agent.mustRecv()
	if got.PayloadType != 96 || !bytes.Equal(got.Payload, ev) {
		t.Errorf("event relayed as PT %d % x, want PT 96 and payload unchanged", got.PayloadType, got.Payload)
	}

	// A destination without telephone-event gets none, but digits are
	// still decoded on the receiving leg.
	c.agentLeg.SetRemote(c.agent.addr(), Format{PT: 8, Encoding: audio.ALaw})
	digits := make(chan rune, 10)
	c.callerLeg.OnDTMF(func(d rune) { digits <- d })
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(101, 2, 900, 9, []byte{11, 0x8a, 0x03, 0x20}))
	waitDigit(t, digits, '#')
	c.agent.expectNothing(100 * time.Millisecond)
}

func TestLatching(t *testing.T) {
	c := newCall(t, fmtPCMU, fmtPCMU)
	Bridge(c.callerLeg, c.agentLeg)
	// The caller is behind NAT: its packets come from another address
	// than its SDP said.
	natted := newPeer(t)
	intruder := newPeer(t)

	natted.send(c.callerLeg.LocalAddr(), audioPacket(0, 1, 0, 1, []byte{1}))
	if got, _ := c.agent.mustRecv(); got.Payload[0] != 1 {
		t.Fatalf("got %v", got)
	}
	// Another source is dropped and counted, not relayed.
	intruder.send(c.callerLeg.LocalAddr(), audioPacket(0, 2, 160, 1, []byte{2}))
	waitFor(t, "dropped packet counted", func() bool { return c.callerLeg.Stats().Dropped == 1 })
	c.agent.expectNothing(100 * time.Millisecond)

	// Return traffic goes to the latched source, not the SDP address.
	c.agent.send(c.agentLeg.LocalAddr(), audioPacket(0, 1, 0, 2, []byte{3}))
	if got, _ := natted.mustRecv(); got.Payload[0] != 3 {
		t.Fatalf("got %v", got)
	}
	c.caller.expectNothing(50 * time.Millisecond)
	if st := c.callerLeg.Stats(); st.PacketsIn != 1 || st.Dropped != 1 {
		t.Errorf("stats %+v, want 1 in, 1 dropped", st)
	}

	// A re-INVITE with the same address keeps the latch.
	c.callerLeg.SetRemote(c.caller.addr(), fmtPCMU)
	c.agent.send(c.agentLeg.LocalAddr(), audioPacket(0, 2, 160, 2, []byte{4}))
	natted.mustRecv()
	// A new address resets it: traffic goes to the new SDP address until
	// a packet arrives, then latches to the new source.
	c.callerLeg.SetRemote(intruder.addr(), fmtPCMU)
	c.agent.send(c.agentLeg.LocalAddr(), audioPacket(0, 3, 320, 2, []byte{5}))
	intruder.mustRecv()
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 3, 320, 1, []byte{6}))
	if got, _ := c.agent.mustRecv(); got.Payload[0] != 6 {
		t.Fatalf("got %v", got)
	}
	c.agent.send(c.agentLeg.LocalAddr(), audioPacket(0, 4, 480, 2, []byte{7}))
	if got, _ := c.caller.mustRecv(); got.Payload[0] != 7 {
		t.Fatalf("got %v", got)
	}
}

func TestDropsGarbageAndUnknownPayloadTypes(t *testing.T) {
	c := newCall(t, fmtPCMU, fmtPCMU)
	Bridge(c.callerLeg, c.agentLeg)
	to := c.callerLeg.LocalAddr()
	good, _ := audioPacket(0, 1, 0, 1, []byte{1, 2}).Marshal()
	bad := [][]byte{
		{0x80, 0, 0},                          // short
		append([]byte{0x40}, good[1:]...),     // version 1
		append([]byte{0x8f}, good[1:]...),     // 15 CSRCs announced, none there
		append([]byte{0x90}, good[1:]...),     // extension announced, none there
		append([]byte{0xa0}, good[1:]...),     // padding of 2 bytes > payload+... (last byte 2: ok?) see below
		append([]byte{0x80, 18}, good[2:]...), // G.729: not negotiated
		[]byte("INVITE sip:x@y SIP/2.0\r\n"),
	}
	// Padding count larger than the packet.
	bad[4][len(bad[4])-1] = 200
	for _, b := range bad {
		c.caller.sendRaw(to, b)
	}
	c.caller.sendRaw(to, good)
	got, _ := c.agent.mustRecv()
	if !bytes.Equal(got.Payload, []byte{1, 2}) {
		t.Errorf("got % x", got.Payload)
	}
	waitFor(t, "drops counted", func() bool { return c.callerLeg.Stats().Dropped == uint64(len(bad)) })
	if st := c.callerLeg.Stats(); st.PacketsIn != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestHeaderExtensionAndCSRCAreRelayed(t *testing.T) {
	c := newCall(t, fmtPCMU, fmtPCMA)
	Bridge(c.callerLeg, c.agentLeg)
	pkt := audioPacket(0, 1, 0, 1, []byte{0xFF, 0x80})
	pkt.CSRC = []uint32{7, 8}
	if err := pkt.SetExtension(1, []byte{0xAB}); err != nil {
		t.Fatal(err)
	}
	pkt.Padding, pkt.PaddingSize = true, 3
	c.caller.send(c.callerLeg.LocalAddr(), pkt)
	got, _ := c.agent.mustRecv()
	if !bytes.Equal(got.Payload, []byte{0xD5, 0xAA}) || len(got.CSRC) != 2 || !bytes.Equal(got.GetExtension(1), []byte{0xAB}) {
		t.Errorf("got %+v % x", got.Header, got.Payload)
	}
}

func TestNothingSentBeforeSetRemote(t *testing.T) {
	ports := newTestPorts(t, 2)
	cfg := testConfig()
	a, b := newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports)
	caller := newPeer(t)
	a.SetRemote(caller.addr(), fmtPCMU)
	a.Start()
	b.Start()
	Bridge(a, b)
	b.Play(NewTone([]float64{440}, 0, 0, 0.5)) // bridged: not sent
	// Packets to a leg without a remote are dropped.
	caller.send(b.LocalAddr(), audioPacket(0, 1, 0, 1, []byte{1}))
	waitFor(t, "drop counted", func() bool { return b.Stats().Dropped == 1 })
	// Packets received on a have nowhere to go: b has no remote.
	caller.send(a.LocalAddr(), audioPacket(0, 1, 0, 1, []byte{1}))
	waitFor(t, "packet counted", func() bool { return a.Stats().PacketsIn == 1 })
	if st := b.Stats(); st.PacketsOut != 0 {
		t.Errorf("b sent %d packets without a remote", st.PacketsOut)
	}
}

func TestLossCounting(t *testing.T) {
	c := newCall(t, fmtPCMU, fmtPCMU)
	for _, seq := range []uint16{65533, 65534, 1, 1, 0, 2} { // 65535 and 0 missing at first; 0 arrives late
		c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, seq, 0, 5, []byte{1}))
	}
	waitFor(t, "all packets", func() bool { return c.callerLeg.Stats().PacketsIn == 6 })
	if got := c.callerLeg.Stats().Lost; got != 2 {
		t.Errorf("Lost = %d, want 2", got)
	}
}

// dtmfPacket is an RFC 4733 telephone-event packet.
func dtmfPacket(pt uint8, seq uint16, ts uint32, event byte, end bool, duration uint16, marker bool) *rtp.Packet {
	p := make([]byte, 4)
	p[0] = event
	p[1] = 10 // volume
	if end {
		p[1] |= 0x80
	}
	binary.BigEndian.PutUint16(p[2:], duration)
	pkt := audioPacket(pt, seq, ts, 0xD7, p)
	pkt.Marker = marker
	return pkt
}

func TestDTMF(t *testing.T) {
	ports := newTestPorts(t, 1)
	leg := newTestLeg(t, testConfig(), ports)
	phone := newPeer(t)
	leg.SetRemote(phone.addr(), fmtPCMU)
	digits := make(chan rune, 20)
	leg.OnDTMF(func(d rune) { digits <- d })
	leg.Start()

	seq := uint16(100)
	ts := uint32(8000)
	press := func(event byte) {
		// Voice, then the event as phones send it: three start/update
		// packets (the first with the marker), three identical end packets.
		phone.send(leg.LocalAddr(), audioPacket(0, seq, ts, 0xD7, make([]byte, 160)))
		seq++
		ts += 160
		for i, d := range []uint16{160, 320, 480} {
			phone.send(leg.LocalAddr(), dtmfPacket(101, seq, ts, event, false, d, i == 0))
			seq++
		}
		for range 3 {
			phone.send(leg.LocalAddr(), dtmfPacket(101, seq, ts, event, true, 640, false))
			seq++
		}
		ts += 640
	}
	for _, e := range []byte{1, 0, 11, 10, 9, 15, 1} {
		press(e)
	}
	// An unknown event (flash, 16) is not a digit.
	phone.send(leg.LocalAddr(), dtmfPacket(101, seq, ts, 16, true, 640, false))

	var got []rune
	for len(got) < 7 {
		select {
		case d := <-digits:
			got = append(got, d)
		case <-time.After(3 * time.Second):
			t.Fatalf("got digits %q, want 7", string(got))
		}
	}
	if string(got) != "10#*9D1" {
		t.Errorf("digits %q, want %q", string(got), "10#*9D1")
	}
	waitFor(t, "all packets", func() bool { return leg.Stats().PacketsIn == 7*7+1 })
	select {
	case d := <-digits:
		t.Errorf("extra digit %q", d)
	default:
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestRebridge(t *testing.T) {
	c := newCall(t, fmtPCMU, fmtPCMU)
	other := newTestLeg(t, testConfig(), newTestPorts(t, 1))
	otherPhone := newPeer(t)
	other.SetRemote(otherPhone.addr(), fmtPCMU)
	other.Start()
	Bridge(c.callerLeg, c.agentLeg)
	// A transfer: the caller is bridged with another agent; the first
	// agent's leg no longer sends into the caller's leg.
	Bridge(c.callerLeg, other)
	c.agent.send(c.agentLeg.LocalAddr(), audioPacket(0, 1, 0, 1, []byte{1}))
	waitFor(t, "packet counted", func() bool { return c.agentLeg.Stats().PacketsIn == 1 })
	c.caller.expectNothing(100 * time.Millisecond)
	otherPhone.send(other.LocalAddr(), audioPacket(0, 1, 0, 2, []byte{2}))
	if got, _ := c.caller.mustRecv(); got.Payload[0] != 2 {
		t.Fatalf("got %v", got)
	}
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 1, 0, 3, []byte{3}))
	if got, _ := otherPhone.mustRecv(); got.Payload[0] != 3 {
		t.Fatalf("got %v", got)
	}
	c.agent.expectNothing(50 * time.Millisecond)
}

// TestTapSeesPacketsAsReceived: a tap (the call recorder) gets each
// accepted packet in the caller's own encoding, before the relay rewrites
// it for the other leg, and never packets from an intruder.
func TestTapSeesPacketsAsReceived(t *testing.T) {
	c := newCall(t, fmtPCMU, fmtPCMA)
	Bridge(c.callerLeg, c.agentLeg)
	type seen struct {
		pt      uint8
		payload []byte
	}
	got := make(chan seen, 10)
	c.callerLeg.SetTap(func(p []byte, at time.Time) {
		if at.IsZero() {
			t.Error("zero arrival time")
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(p); err != nil {
			t.Error(err)
			return
		}
		got <- seen{pkt.PayloadType, append([]byte(nil), pkt.Payload...)}
	})
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 1, 0, 7, []byte{0x80, 0xFF}))
	relayed, _ := c.agent.mustRecv()
	s := <-got
	if s.pt != 0 || !bytes.Equal(s.payload, []byte{0x80, 0xFF}) {
		t.Errorf("tap saw PT %d payload %x, want the caller's PCMU as sent", s.pt, s.payload)
	}
	if relayed.PayloadType != 8 {
		t.Errorf("relayed PT %d, want 8", relayed.PayloadType)
	}
	newPeer(t).send(c.callerLeg.LocalAddr(), audioPacket(0, 2, 160, 7, []byte{1}))
	waitFor(t, "intruder dropped", func() bool { return c.callerLeg.Stats().Dropped == 1 })
	c.callerLeg.SetTap(nil)
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 3, 320, 7, []byte{2}))
	c.agent.mustRecv()
	select {
	case s := <-got:
		t.Errorf("tap saw %+v (intruder or after removal)", s)
	default:
	}
}

// TestJitter: packets arriving exactly every 20 ms have no jitter; packets
// arriving 0 and 10 ms late in turn have RFC 3550's jitter of about 10 ms.
func TestJitter(t *testing.T) {
	a, _, src := forwardPair(fmtPCMU, fmtPCMU)
	send := func(seq uint16, arrivalMs int64) {
		pkt, _ := audioPacket(0, seq, uint32(seq)*160, 0x77, make([]byte, 160)).Marshal()
		a.measureJitter(pkt, arrivalMs*int64(time.Millisecond))
		_ = src
	}
	for i := uint16(0); i < 50; i++ {
		send(i, int64(i)*20)
	}
	if j := a.Stats().Jitter; j != 0 {
		t.Fatalf("jitter %s for a regular stream, want 0", j)
	}
	for i := uint16(50); i < 400; i++ {
		late := int64(0)
		if i%2 == 1 {
			late = 10
		}
		send(i, int64(i)*20+late)
	}
	if j := a.Stats().Jitter; j < 9*time.Millisecond || j > 11*time.Millisecond {
		t.Fatalf("jitter %s, want about 10 ms", j)
	}
}
