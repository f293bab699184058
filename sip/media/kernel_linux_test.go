//go:build linux

package media

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"hotline/audio"
	"hotline/internal/udptest"
)

// kernelCall is newCall with the kernel relay started on its ports.
func kernelCall(t *testing.T, callerFmt, agentFmt Format) (*call, *Ports) {
	t.Helper()
	ports := newTestPorts(t, 3)
	if err := ports.StartKernel(testConfig(), nopLogger()); err != nil {
		t.Fatalf("the kernel relay is needed (root, Linux 6.6+): %v", err)
	}
	t.Cleanup(func() {
		if err := ports.Close(); err != nil {
			t.Error(err)
		}
	})
	return newCallOn(t, ports, callerFmt, agentFmt), ports
}

// tappedKernelCall is a PCMU call relayed in the kernel, bridged and
// latched with payloads of fill, whose caller leg's tap (rec) has the
// latching packet.
func tappedKernelCall(t *testing.T, fill byte) (c *call, ports *Ports, rec *tapLog, payload []byte) {
	t.Helper()
	c, ports = kernelCall(t, fmtPCMU, fmtPCMU)
	rec = &tapLog{}
	c.callerLeg.SetBatchTap(rec.tap)
	Bridge(c.callerLeg, c.agentLeg)
	payload = bytes.Repeat([]byte{fill}, 160)
	c.latch(payload)
	waitFor(t, "the tap to get the first packet", func() bool { return rec.len() == 1 })
	return c, ports, rec, payload
}

// latch sends one packet each way, relayed in user space, after which both
// legs know their remote and a bridged pair is relayed in the kernel.
func (c *call) latch(payload []byte) {
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 1, 0, 7, payload))
	c.agent.mustRecv()
	c.agent.send(c.agentLeg.LocalAddr(), audioPacket(0, 1, 0, 8, payload))
	c.caller.mustRecv()
}

// listenIn starts a supervisor listening to c (a PCMU leg of its own on
// ports).
func listenIn(t *testing.T, c *call, ports *Ports) *Monitor {
	t.Helper()
	sup := newPeer(t)
	supLeg := newTestLeg(t, testConfig(), ports)
	supLeg.SetRemote(sup.addr(), fmtPCMU)
	supLeg.Start()
	m, err := NewMonitor(c.callerLeg, c.agentLeg, supLeg, Listen)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// strangerIgnored sends the caller leg a packet from a stranger, which
// must not reach the agent, then the caller's packet 2, which must: it
// returns the stranger.
func strangerIgnored(t *testing.T, c *call, payload []byte) *peer {
	t.Helper()
	stranger := newPeer(t)
	stranger.send(c.callerLeg.LocalAddr(), audioPacket(0, 50, 8000, 9, payload))
	c.agent.expectNothing(50 * time.Millisecond)
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 2, 320, 7, payload))
	if got, _ := c.agent.mustRecv(); got.SequenceNumber != 2 {
		t.Errorf("agent got seq %d, want the caller's 2", got.SequenceNumber)
	}
	return stranger
}

func relayedInKernel(t *testing.T, p *Ports) uint64 {
	t.Helper()
	c, ok := p.KernelStats()
	if !ok {
		t.Fatal("no kernel relay")
	}
	return c.Relayed
}

// tapLog keeps what a BatchTap was given.
type tapLog struct {
	mu     sync.Mutex
	seqs   []uint16
	missed uint64
}

func (l *tapLog) tap(pkts [][]byte, missed uint64, _ time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.missed += missed
	for _, p := range pkts {
		l.seqs = append(l.seqs, uint16(p[2])<<8|uint16(p[3]))
	}
}

func (l *tapLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seqs)
}

// TestKernelRelay: once both ends of a bridge have latched, the caller's
// audio reaches the agent through the kernel (with the agent's payload
// type, from the agent leg's address); the recorder's tap still gets
// every packet, the leg's counters count them, and a telephone-event is
// still decoded and relayed. A monitor takes the pair back to user space
// for as long as it listens; closing a leg removes its flow.
func TestKernelRelay(t *testing.T) {
	agentFmt := Format{PT: 0, Encoding: audio.ULaw, DTMFPT: 96}
	c, ports := kernelCall(t, fmtPCMU, agentFmt)
	var rec tapLog
	c.callerLeg.SetBatchTap(rec.tap)
	digits := make(chan rune, 4)
	c.callerLeg.OnDTMF(func(d rune) { digits <- d })
	Bridge(c.callerLeg, c.agentLeg)

	// The first packets latch both legs, in user space.
	payload := bytes.Repeat([]byte{0x55}, 160)
	c.latch(payload)
	before := relayedInKernel(t, ports)
	for seq := uint16(2); seq <= 5; seq++ {
		c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, seq, uint32(seq)*160, 7, payload))
		got, from := c.agent.mustRecv()
		if from != c.agentLeg.LocalAddr() || got.SequenceNumber != seq || !bytes.Equal(got.Payload, payload) {
			t.Fatalf("agent got seq %d from %s, want seq %d from %s", got.SequenceNumber, from, seq, c.agentLeg.LocalAddr())
		}
	}
	if n := relayedInKernel(t, ports) - before; n != 4 {
		t.Errorf("%d packets relayed in the kernel, want 4", n)
	}
	waitFor(t, "the tap to get all five packets", func() bool { return rec.len() == 5 })
	if s := c.callerLeg.Stats(); s.PacketsIn != 5 || s.Lost != 0 || s.LastPacket.IsZero() {
		t.Errorf("caller leg stats %+v, want 5 in, none lost", s)
	}
	if s := c.agentLeg.Stats(); s.PacketsOut != 5 {
		t.Errorf("agent leg sent %d packets, want 5", s.PacketsOut)
	}

	// A telephone-event goes up: decoded here, relayed with the agent's PT.
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(101, 6, 960, 7, []byte{11, 0x8a, 0x03, 0x20}))
	if got, _ := c.agent.mustRecv(); got.PayloadType != 96 {
		t.Errorf("event relayed as PT %d, want 96", got.PayloadType)
	}
	waitDigit(t, digits, '#')

	// A monitor hears the caller: the pair is relayed in user space.
	m := listenIn(t, c, ports)
	before = relayedInKernel(t, ports)
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 7, 1120, 7, payload))
	c.agent.mustRecv()
	if n := relayedInKernel(t, ports) - before; n != 0 {
		t.Errorf("%d packets relayed in the kernel while monitored, want 0", n)
	}
	m.Stop()
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 8, 1280, 7, payload))
	c.agent.mustRecv()
	if n := relayedInKernel(t, ports) - before; n != 1 {
		t.Errorf("%d packets relayed in the kernel after the monitor stopped, want 1", n)
	}
	waitFor(t, "the tap to get all eight packets", func() bool { return rec.len() == 8 })

	// Closing the agent leg removes the caller's flow too (no peer).
	k := ports.kern.Load()
	_ = c.agentLeg.Close()
	<-c.agentLeg.Done()
	if _, err := k.r.Stats(c.callerLeg.kaddr); err == nil {
		t.Error("the caller leg's flow is still installed after the agent leg closed")
	}
	if _, err := k.r.Stats(c.agentLeg.kaddr); err == nil {
		t.Error("the agent leg's flow is still installed after it closed")
	}
	if s := c.callerLeg.Stats(); s.Lost != 0 {
		t.Errorf("%d lost in the caller leg's stats; every packet arrived", s.Lost)
	}
}

// TestKernelRelayLeavesTranscodingToUserSpace: PCMU to PCMA is never
// relayed in the kernel.
func TestKernelRelayLeavesTranscodingToUserSpace(t *testing.T) {
	c, ports := kernelCall(t, fmtPCMU, fmtPCMA)
	Bridge(c.callerLeg, c.agentLeg)
	for seq := uint16(1); seq <= 3; seq++ {
		c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, seq, 0, 7, []byte{0xff, 0xff}))
		if got, _ := c.agent.mustRecv(); got.PayloadType != 8 {
			t.Fatalf("PT %d, want 8", got.PayloadType)
		}
		c.agent.send(c.agentLeg.LocalAddr(), audioPacket(8, seq, 0, 8, []byte{0xd5}))
		c.caller.mustRecv()
	}
	if n := relayedInKernel(t, ports); n != 0 {
		t.Errorf("%d packets relayed in the kernel, want 0", n)
	}
}

// TestKernelRelayFollowsRebridgeAndRemote: a transfer (the caller bridged
// with another agent) moves the caller's flow to the new agent and removes
// the old agent's; a re-INVITE to a new address takes the leg back to user
// space until the new address latches.
func TestKernelRelayFollowsRebridgeAndRemote(t *testing.T) {
	c, ports := kernelCall(t, fmtPCMU, fmtPCMU)
	k := ports.kern.Load()
	Bridge(c.callerLeg, c.agentLeg)
	payload := bytes.Repeat([]byte{0x11}, 160)
	talk := func(from *peer, leg *Leg, to *peer, toLeg *Leg, seq uint16) {
		t.Helper()
		from.send(leg.LocalAddr(), audioPacket(0, seq, uint32(seq)*160, 7, payload))
		got, src := to.mustRecv()
		if src != toLeg.LocalAddr() || got.SequenceNumber != seq {
			t.Fatalf("got seq %d from %s, want seq %d from %s", got.SequenceNumber, src, seq, toLeg.LocalAddr())
		}
	}
	talk(c.caller, c.callerLeg, c.agent, c.agentLeg, 1)
	talk(c.agent, c.agentLeg, c.caller, c.callerLeg, 1)
	if _, err := k.r.Stats(c.callerLeg.kaddr); err != nil {
		t.Fatalf("no flow for the caller leg once both latched: %v", err)
	}

	// Transfer: the caller now talks with carol.
	carol := newPeer(t)
	carolLeg := newTestLeg(t, testConfig(), ports)
	carolLeg.SetRemote(carol.addr(), fmtPCMU)
	carolLeg.Start()
	Bridge(c.callerLeg, carolLeg)
	talk(c.caller, c.callerLeg, carol, carolLeg, 2) // the caller's flow now points at carol
	c.agent.expectNothing(50 * time.Millisecond)
	talk(carol, carolLeg, c.caller, c.callerLeg, 1)
	before := relayedInKernel(t, ports)
	talk(c.caller, c.callerLeg, carol, carolLeg, 3)
	talk(carol, carolLeg, c.caller, c.callerLeg, 2)
	if n := relayedInKernel(t, ports) - before; n != 2 {
		t.Errorf("%d packets relayed in the kernel after the transfer, want 2", n)
	}
	if _, err := k.r.Stats(c.agentLeg.kaddr); err == nil {
		t.Error("the old agent leg, no longer bridged, still has a flow")
	}

	// Re-INVITE: carol moves to a new address; her old one is no longer
	// relayed, her new one is, in the kernel from its first packet (the
	// flow takes the SDP's address before the leg latches).
	carol2 := newPeer(t)
	carolLeg.SetRemote(carol2.addr(), fmtPCMU)
	before = relayedInKernel(t, ports)
	talk(carol2, carolLeg, c.caller, c.callerLeg, 3)
	if n := relayedInKernel(t, ports) - before; n != 1 {
		t.Errorf("%d packets relayed in the kernel from carol's new address before it latched, want 1", n)
	}
	talk(c.caller, c.callerLeg, carol2, carolLeg, 4) // the caller's flow follows
	before = relayedInKernel(t, ports)
	talk(carol2, carolLeg, c.caller, c.callerLeg, 4)
	if n := relayedInKernel(t, ports) - before; n != 1 {
		t.Errorf("%d packets relayed in the kernel from carol's new address, want 1", n)
	}
	carol.send(carolLeg.LocalAddr(), audioPacket(0, 9, 0, 7, payload)) // the old address: dropped
	c.caller.expectNothing(50 * time.Millisecond)
}

// TestKernelRelayHandsTheLastAudioToTheTap: the ring is read every few
// milliseconds, so when a leg ends, the copies of its last packets may
// still be in it; closing the leg hands them to its tap before Close
// returns, so a recording ends with the audio that was relayed.
func TestKernelRelayHandsTheLastAudioToTheTap(t *testing.T) {
	c, ports, rec, payload := tappedKernelCall(t, 0x55)

	before := relayedInKernel(t, ports)
	const n = 30
	for seq := uint16(2); seq < 2+n; seq++ {
		c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, seq, uint32(seq)*160, 7, payload))
	}
	for range n {
		c.agent.mustRecv()
	}
	if got := relayedInKernel(t, ports) - before; got != n {
		t.Fatalf("%d packets relayed in the kernel, want %d", got, n)
	}
	if err := c.callerLeg.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rec.len(); got != 1+n {
		t.Fatalf("when Close returned the tap had %d of the %d packets", got, 1+n)
	}
}

// TestKernelRelayFromTheFirstPacket: once bridged, a leg's audio from
// its SDP's address is relayed in the kernel from the first packet (no
// user-space read first). A stranger's packet then neither reaches the
// peer nor takes the leg over; a phone whose packets come from another
// address than its SDP's (NAT) is latched there as before.
func TestKernelRelayFromTheFirstPacket(t *testing.T) {
	c, ports := kernelCall(t, fmtPCMU, fmtPCMU)
	Bridge(c.callerLeg, c.agentLeg)
	payload := bytes.Repeat([]byte{0x22}, 160)
	before := relayedInKernel(t, ports)
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 1, 160, 7, payload))
	if got, from := c.agent.mustRecv(); got.SequenceNumber != 1 || from != c.agentLeg.LocalAddr() {
		t.Fatalf("agent got seq %d from %s, want 1 from %s", got.SequenceNumber, from, c.agentLeg.LocalAddr())
	}
	if n := relayedInKernel(t, ports) - before; n != 1 {
		t.Errorf("%d packets relayed in the kernel, want the first one", n)
	}
	strangerIgnored(t, c, payload)

	// Behind NAT: the agent's packets come from elsewhere than its SDP's
	// address; the first one latches the leg there and the flow follows.
	nat := newPeer(t)
	nat.send(c.agentLeg.LocalAddr(), audioPacket(0, 1, 160, 8, payload))
	if got, _ := c.caller.mustRecv(); got.SequenceNumber != 1 {
		t.Fatalf("caller got seq %d, want the agent's 1", got.SequenceNumber)
	}
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 3, 480, 7, payload))
	if got, _, ok := nat.recv(3 * time.Second); !ok || got.SequenceNumber != 3 {
		t.Fatalf("the agent's NAT address did not get the caller's audio (ok %v)", ok)
	}
	before = relayedInKernel(t, ports)
	nat.send(c.agentLeg.LocalAddr(), audioPacket(0, 2, 320, 8, payload))
	c.caller.mustRecv()
	if n := relayedInKernel(t, ports) - before; n != 1 {
		t.Errorf("%d packets from the NAT address relayed in the kernel, want 1", n)
	}
}

// TestKernelRelayLatchStaysWhenMonitored: a leg whose first packets were
// relayed in the kernel, from its SDP's address, is latched there by the
// ring's copies; so when a monitor takes the pair back to user space, a
// stranger's packet at the leg's port neither reaches the peer nor takes
// the leg over (its audio, and the call's, stay with the phone).
func TestKernelRelayLatchStaysWhenMonitored(t *testing.T) {
	c, ports := kernelCall(t, fmtPCMU, fmtPCMU)
	var rec tapLog
	c.callerLeg.SetBatchTap(rec.tap)
	Bridge(c.callerLeg, c.agentLeg)
	payload := bytes.Repeat([]byte{0x66}, 160)

	before := relayedInKernel(t, ports)
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 1, 160, 7, payload))
	c.agent.mustRecv()
	if n := relayedInKernel(t, ports) - before; n != 1 {
		t.Fatalf("%d packets relayed in the kernel, want the first one", n)
	}
	waitFor(t, "the tap to get the first packet's copy", func() bool { return rec.len() == 1 })

	m := listenIn(t, c, ports)
	defer m.Stop()
	stranger := strangerIgnored(t, c, payload)
	c.agent.send(c.agentLeg.LocalAddr(), audioPacket(0, 1, 160, 8, payload))
	if got, _, ok := c.caller.recv(3 * time.Second); !ok || got.SequenceNumber != 1 {
		t.Fatalf("the caller did not get the agent's audio (ok %v)", ok)
	}
	stranger.expectNothing(50 * time.Millisecond)
}

// TestReadDelayCountsTheRing: with the kernel relaying a call, the reads
// of its ring count in the RTP read delay (the overload control's
// rtp_delay) though no leg's socket is read; a reader that keeps up shows
// a short wait.
func TestReadDelayCountsTheRing(t *testing.T) {
	c, ports, rec, payload := tappedKernelCall(t, 0x33)
	ports.TakeReadDelay()

	before := relayedInKernel(t, ports)
	for seq := uint16(2); seq < 5; seq++ {
		c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, seq, uint32(seq)*160, 7, payload))
		c.agent.mustRecv()
	}
	waitFor(t, "the tap to get the relayed packets", func() bool { return rec.len() == 4 })
	if got := relayedInKernel(t, ports) - before; got != 3 {
		t.Fatalf("%d packets relayed in the kernel, want 3", got)
	}
	least, n := ports.TakeReadDelay()
	if n == 0 || least >= 100*time.Millisecond {
		t.Errorf("read delay with the ring read as the kernel relays: %v over %d reads, want a read, well under 100ms", least, n)
	}
}

// sendPaced has c's caller send n audio packets (sequence numbers from
// seq) to the caller leg while what reaches the agent is read and counted
// (udptest), pacing the sender so that the agent's socket never
// overflows; it returns how many reached the agent.
func (c *call) sendPaced(t *testing.T, seq uint16, n int, payload []byte) int {
	t.Helper()
	k := udptest.Count(c.agent.conn)
	_ = udptest.SendPaced(k, n, func(i int) error {
		s := seq + uint16(i)
		c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, s, uint32(s)*160, 7, payload))
		return nil
	})
	return int(k.Stop())
}

// TestKernelRingFullStillRelays: with the kernel relay's ring reader held
// up (here, by the recorder's tap) until the ring is full, the caller's
// audio still reaches the agent, every packet, through the kernel; the
// copies the ring had no room for reach the recorder's tap as missed
// (the recording counts them as dropped, silence), by the leg's next
// copy or, when the flow is removed first, by its removal; the leg's
// counters count them as received, not lost.
func TestKernelRingFullStillRelays(t *testing.T) {
	c, ports, rec, payload := tappedKernelCall(t, 0x5a)
	var mu sync.Mutex
	gate := make(chan struct{})
	hold := func() {
		mu.Lock()
		gate = make(chan struct{})
		mu.Unlock()
	}
	release := func() {
		mu.Lock()
		select {
		case <-gate:
		default:
			close(gate)
		}
		mu.Unlock()
	}
	defer release()
	c.callerLeg.SetBatchTap(func(pkts [][]byte, missed uint64, at time.Time) {
		if len(pkts) > 0 { // the ring's reader, held up
			mu.Lock()
			g := gate
			mu.Unlock()
			<-g
		}
		rec.tap(pkts, missed, at)
	})
	ringFull := func() uint64 {
		k, ok := ports.KernelStats()
		if !ok {
			t.Fatal("no kernel relay")
		}
		return k.RingFull
	}
	const n = 24000 // the 4 MiB ring holds 20,971 copies
	if got := c.sendPaced(t, 2, n, payload); got != n {
		t.Fatalf("the agent got %d of %d packets with the ring's reader held up", got, n)
	}
	missed := ringFull()
	if missed == 0 {
		t.Fatal("no packet found the ring full: the test did not fill it")
	}
	release()
	kept := 1 + n - int(missed) // with the latching packet
	waitFor(t, "the reader to catch up", func() bool { return rec.len() == kept })
	c.caller.send(c.callerLeg.LocalAddr(), audioPacket(0, 2+n, (2+n)*160, 7, payload))
	c.agent.mustRecv()
	kept++
	waitFor(t, "the next copy and the missed count", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.seqs) == kept && rec.missed == missed
	})
	if s := c.callerLeg.Stats(); s.PacketsIn != 1+n+1 || s.Lost != 0 {
		t.Errorf("caller leg stats: %d in, %d lost; want %d in, none lost", s.PacketsIn, s.Lost, 1+n+1)
	}

	// Held up again, and the caller leg ends (its flow removed) before
	// the reader catches up: the removal tells what no copy did, and the
	// leg still gets the copies the ring held.
	hold()
	if got := c.sendPaced(t, 3+n, n, payload); got != n {
		t.Fatalf("the agent got %d of %d packets, the second time", got, n)
	}
	missed2 := ringFull() - missed
	if missed2 == 0 {
		t.Fatal("no packet found the ring full the second time")
	}
	go c.callerLeg.Close() // its end removes its flow, then waits for the reader (Sync)
	waitFor(t, "the removal to tell the copies missed", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.missed == missed+missed2
	})
	release()
	<-c.callerLeg.Done()
	waitFor(t, "the reader to hand over the rest", func() bool { return rec.len() == kept+n-int(missed2) })
}
