package media

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var loopback = netip.MustParseAddr("127.0.0.1")

// freeRange finds pairs consecutive free even/odd port pairs on 127.0.0.1
// and returns the first port. Ports are probed by binding them.
func freeRange(t testing.TB, pairs int) int {
	t.Helper()
	for range 100 {
		// Above the kernel's ephemeral ports (32768-60999 by default), which
		// other tests' sockets bound to port 0 take between this probe and
		// the legs' binds.
		base := 61000 + 2*rand.IntN(2200) // 61000..65398
		var held []*net.UDPConn
		ok := true
		for p := base; p < base+2*pairs; p++ {
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(p))))
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			_ = c.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range on 127.0.0.1")
	return 0
}

func testConfig() *Config {
	c := &Config{Timeout: -1, HoldTimeout: -1}
	c.SetDefaults()
	return c
}

// newTestPorts returns Ports over a free range of the given number of pairs.
func newTestPorts(t testing.TB, pairs int) *Ports {
	base := freeRange(t, pairs)
	return NewPorts(base, base+2*pairs-1)
}

func newTestLeg(t testing.TB, cfg *Config, ports *Ports) *Leg {
	t.Helper()
	l, err := NewLeg(cfg, ports, nil)
	if err != nil {
		t.Fatalf("NewLeg: %v", err)
	}
	t.Cleanup(func() {
		_ = l.Close()
		<-l.Done()
	})
	return l
}

// peer is a test RTP endpoint (a phone) on 127.0.0.1.
type peer struct {
	t    testing.TB
	conn *net.UDPConn
}

func newPeer(t testing.TB) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &peer{t: t, conn: c}
}

func (p *peer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *peer) sendRaw(to netip.AddrPort, b []byte) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) send(to netip.AddrPort, pkt *rtp.Packet) {
	p.t.Helper()
	b, err := pkt.Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	p.sendRaw(to, b)
}

// recv waits up to d for a packet; ok is false on timeout.
func (p *peer) recv(d time.Duration) (pkt *rtp.Packet, from netip.AddrPort, ok bool) {
	p.t.Helper()
	buf := make([]byte, 2000)
	_ = p.conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, from, false
		}
		p.t.Fatal(err)
	}
	pkt = &rtp.Packet{}
	if err := pkt.Unmarshal(buf[:n]); err != nil {
		p.t.Fatalf("received packet is not RTP: %v", err)
	}
	return pkt, from, true
}

// mustRecv waits for a packet and fails the test if none comes.
func (p *peer) mustRecv() (*rtp.Packet, netip.AddrPort) {
	p.t.Helper()
	pkt, from, ok := p.recv(3 * time.Second)
	if !ok {
		p.t.Fatal("no packet received within 3s")
	}
	return pkt, from
}

// expectNothing fails if a packet arrives within d.
func (p *peer) expectNothing(d time.Duration) {
	p.t.Helper()
	if pkt, from, ok := p.recv(d); ok {
		p.t.Fatalf("unexpected packet from %s: %v", from, pkt.Header)
	}
}

func audioPacket(pt uint8, seq uint16, ts uint32, ssrc uint32, payload []byte) *rtp.Packet {
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc},
		Payload: payload,
	}
}

// waitFor polls cond every 5 ms for up to 3 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitDigit waits up to 3 s for the next digit decoded and checks it.
func waitDigit(t testing.TB, digits <-chan rune, want rune) {
	t.Helper()
	select {
	case d := <-digits:
		if d != want {
			t.Errorf("digit %q, want %q", d, want)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no digit decoded")
	}
}

// writeFile writes b to a file in a temporary directory and returns its path.
func nopLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// process is take followed by the key's report, as the one-packet reader
// does them (without its lock): one packet in, what to send out.
func (l *Leg) process(p []byte, src netip.AddrPort) (peer *Leg, dst netip.AddrPort, ok bool) {
	peer, dst, digit, ok := l.take(p, src)
	l.pressed(digit)
	return peer, dst, ok
}
