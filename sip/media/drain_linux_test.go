//go:build linux

package media

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestCloseHandsTheSocketsLastAudioToTheTap: packets that still wait in
// a leg's socket when it closes (its reader has not got to them; here it
// never started) reach its tap, in order, before Close returns, and are
// counted; none is relayed to the bridged leg, and the tap is let go.
func TestCloseHandsTheSocketsLastAudioToTheTap(t *testing.T) {
	c := &call{caller: newPeer(t), agent: newPeer(t)}
	ports := newTestPorts(t, 2)
	c.callerLeg = newTestLeg(t, testConfig(), ports)
	c.agentLeg = newTestLeg(t, testConfig(), ports)
	c.callerLeg.SetRemote(c.caller.addr(), fmtPCMU)
	c.agentLeg.SetRemote(c.agent.addr(), fmtPCMU)
	c.agentLeg.Start()
	Bridge(c.callerLeg, c.agentLeg)
	var rec tapLog
	c.callerLeg.SetBatchTap(rec.tap)

	payload := bytes.Repeat([]byte{0x55}, 160)
	const n = 40
	var (
		want []uint16
		pkts []*rtp.Packet
	)
	for seq := uint16(1); seq <= n; seq++ {
		pkts = append(pkts, audioPacket(0, seq, uint32(seq)*160, 7, payload))
		want = append(want, seq)
	}
	c.caller.sendQueued(c.callerLeg.LocalAddr(), pkts)
	if err := c.callerLeg.Close(); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	got := slices.Clone(rec.seqs)
	rec.mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("when Close returned the tap had sequence numbers %v, want 1 to %d", got, n)
	}
	if st := c.callerLeg.Stats(); st.PacketsIn != n {
		t.Errorf("leg counted %d packets in, want %d", st.PacketsIn, n)
	}
	if c.callerLeg.tap.Load() != nil {
		t.Error("the closed leg still holds its tap")
	}
	c.agent.expectNothing(100 * time.Millisecond)
}

// TestCloseWithoutATapLeavesTheSocketAlone: a leg nobody records does
// not read its socket as it closes (nothing to hand over).
func TestCloseWithoutATapLeavesTheSocketAlone(t *testing.T) {
	ports := newTestPorts(t, 1)
	l := newTestLeg(t, testConfig(), ports)
	caller := newPeer(t)
	l.SetRemote(caller.addr(), fmtPCMU)
	caller.sendQueued(l.LocalAddr(), []*rtp.Packet{audioPacket(0, 1, 160, 7, bytes.Repeat([]byte{0x55}, 160))})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.PacketsIn != 0 {
		t.Errorf("leg without a tap read %d packets as it closed, want 0", st.PacketsIn)
	}
}

// sendQueued sends pkts from p to the leg's socket at to and waits until
// they all wait in its receive queue (/proc/net/udp: its bytes, the
// first datagram's share times their number; they are the same size).
func (p *peer) sendQueued(to netip.AddrPort, pkts []*rtp.Packet) {
	p.t.Helper()
	p.send(to, pkts[0])
	var one int
	waitFor(p.t, "the first datagram queued", func() bool {
		one = rxQueue(p.t, to.Port())
		return one > 0
	})
	for _, pkt := range pkts[1:] {
		p.send(to, pkt)
	}
	waitFor(p.t, fmt.Sprintf("%d datagrams queued", len(pkts)), func() bool {
		return rxQueue(p.t, to.Port()) >= len(pkts)*one
	})
}

// rxQueue is the bytes waiting in the receive queue of the UDP socket
// bound to port on 127.0.0.1.
func rxQueue(t testing.TB, port uint16) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != local {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		q, err := strconv.ParseUint(rx, 16, 64)
		if err != nil {
			t.Fatalf("/proc/net/udp: queue %q: %v", f[4], err)
		}
		return int(q)
	}
	t.Fatalf("/proc/net/udp: no socket bound to 127.0.0.1:%d", port)
	return 0
}
