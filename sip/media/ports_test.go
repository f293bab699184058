package media

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

func rtcpPort(l *Leg) int { return l.rtcp.LocalAddr().(*net.UDPAddr).Port }

func TestPortsPairs(t *testing.T) {
	base := freeRange(t, 4)
	ports := NewPorts(base, base+7)
	cfg := testConfig()
	var legs []*Leg
	seen := map[uint16]bool{}
	for range 4 {
		l, err := NewLeg(cfg, ports, nil)
		if err != nil {
			t.Fatalf("NewLeg: %v", err)
		}
		legs = append(legs, l)
		p := l.LocalAddr().Port()
		if p%2 != 0 || int(p) < base || int(p) > base+6 {
			t.Errorf("RTP port %d: want even in [%d, %d]", p, base, base+6)
		}
		if rtcpPort(l) != int(p)+1 {
			t.Errorf("RTCP port %d, want %d", rtcpPort(l), p+1)
		}
		if seen[p] {
			t.Errorf("port %d handed out twice", p)
		}
		seen[p] = true
		if l.LocalAddr().Addr() != loopback {
			t.Errorf("LocalAddr %s, want 127.0.0.1", l.LocalAddr())
		}
	}
	if got := ports.InUse(); got != 4 {
		t.Errorf("InUse = %d, want 4", got)
	}
	if _, err := NewLeg(cfg, ports, nil); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("fifth leg: err = %v, want ErrNoPorts", err)
	}
	// A released pair is available again.
	freed := legs[1].LocalAddr().Port()
	if err := legs[1].Close(); err != nil {
		t.Fatal(err)
	}
	if err := legs[1].Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	l, err := NewLeg(cfg, ports, nil)
	if err != nil {
		t.Fatalf("NewLeg after Close: %v", err)
	}
	if l.LocalAddr().Port() != freed {
		t.Errorf("got port %d, want the freed %d", l.LocalAddr().Port(), freed)
	}
	legs[1] = l
	for _, l := range legs {
		_ = l.Close()
		<-l.Done()
	}
	if got := ports.InUse(); got != 0 {
		t.Errorf("InUse after closing everything = %d, want 0", got)
	}
}

func TestPortsRotateAndSkipRefused(t *testing.T) {
	base := freeRange(t, 3)
	// Another program holds base+2 (the RTCP port would be fine, RTP not).
	other, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(base+2))))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	ports := NewPorts(base, base+5)
	cfg := testConfig()
	a := newTestLeg(t, cfg, ports)
	b := newTestLeg(t, cfg, ports)
	if a.LocalAddr().Port() != uint16(base) || b.LocalAddr().Port() != uint16(base+4) {
		t.Fatalf("ports %d, %d; want %d, %d (skipping the refused %d)", a.LocalAddr().Port(), b.LocalAddr().Port(), base, base+4, base+2)
	}
	if _, err := NewLeg(cfg, ports, nil); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("err = %v, want ErrNoPorts", err)
	}
	if ports.InUse() != 2 {
		t.Errorf("InUse = %d, want 2 (a refused pair is not held)", ports.InUse())
	}
	_ = other.Close()
}

func TestPortsRotate(t *testing.T) {
	base := freeRange(t, 3)
	ports := NewPorts(base, base+5)
	cfg := testConfig()
	a := newTestLeg(t, cfg, ports)
	newTestLeg(t, cfg, ports)
	_ = a.Close()
	// The pair just released is not handed out again while another is free.
	c := newTestLeg(t, cfg, ports)
	if c.LocalAddr().Port() != uint16(base+4) {
		t.Errorf("after release got %d, want next in rotation %d", c.LocalAddr().Port(), base+4)
	}
	d := newTestLeg(t, cfg, ports)
	if d.LocalAddr().Port() != uint16(base) {
		t.Errorf("got %d, want %d", d.LocalAddr().Port(), base)
	}
}

func TestPortsEmptyRange(t *testing.T) {
	if _, err := NewLeg(testConfig(), NewPorts(20001, 20001), nil); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("err = %v, want ErrNoPorts", err)
	}
}
