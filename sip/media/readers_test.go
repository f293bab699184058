package media

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestReadersModes: with a goroutine per leg (-1), one reader per core
// (0) and a single shared reader (1), audio is relayed both ways, a
// silent leg times out, and Close releases the ports.
func TestReadersModes(t *testing.T) {
	for _, readers := range []int{-1, 0, 1} {
		t.Run(fmt.Sprintf("readers=%d", readers), func(t *testing.T) {
			cfg := testConfig()
			cfg.Readers = readers
			ports := newTestPorts(t, 3)
			caller, agent := newPeer(t), newPeer(t)
			a, b := newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports)
			a.SetRemote(caller.addr(), fmtPCMU)
			b.SetRemote(agent.addr(), fmtPCMU)
			a.Start()
			b.Start()
			Bridge(a, b)
			caller.send(a.LocalAddr(), audioPacket(0, 1, 0, 7, []byte{1, 2, 3}))
			if pkt, from := agent.mustRecv(); string(pkt.Payload) != "\x01\x02\x03" || from != b.LocalAddr() {
				t.Fatalf("agent got %v from %v, want the caller's audio from %v", pkt.Payload, from, b.LocalAddr())
			}
			agent.send(b.LocalAddr(), audioPacket(0, 1, 0, 8, []byte{4, 5}))
			if pkt, from := caller.mustRecv(); string(pkt.Payload) != "\x04\x05" || from != a.LocalAddr() {
				t.Fatalf("caller got %v from %v, want the agent's audio from %v", pkt.Payload, from, a.LocalAddr())
			}

			tcfg := *cfg
			tcfg.Timeout = 200 * time.Millisecond
			silent := newTestLeg(t, &tcfg, ports)
			silent.SetRemote(newPeer(t).addr(), fmtPCMU)
			silent.Start()
			select {
			case <-silent.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("a silent leg did not time out")
			}
			if silent.Err() != ErrTimeout {
				t.Errorf("Err = %v, want ErrTimeout", silent.Err())
			}
			_ = a.Close()
			_ = b.Close()
			<-a.Done()
			<-b.Done()
			if n := ports.InUse(); n != 0 {
				t.Errorf("%d port pairs still held after Close", n)
			}
		})
	}
}

// TestSharedReaderKeepsLegsApart: one reader for many legs, some closed
// and their places taken by new legs while audio flows: every agent
// gets its own caller's packets and nobody else's.
func TestSharedReaderKeepsLegsApart(t *testing.T) {
	cfg := testConfig()
	cfg.Readers = 1
	const calls = 12
	ports := newTestPorts(t, 3*calls)
	type pair struct {
		caller, agent *peer
		a, b          *Leg
	}
	open := func() *pair {
		p := &pair{caller: newPeer(t), agent: newPeer(t)}
		p.a, p.b = newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports)
		p.a.SetRemote(p.caller.addr(), fmtPCMU)
		p.b.SetRemote(p.agent.addr(), fmtPCMU)
		p.a.Start()
		p.b.Start()
		Bridge(p.a, p.b)
		return p
	}
	check := func(ps []*pair, seq uint16) {
		t.Helper()
		for i, p := range ps {
			p.caller.send(p.a.LocalAddr(), audioPacket(0, seq, 0, uint32(i+1), []byte{byte(i), byte(seq)}))
		}
		for i, p := range ps {
			pkt, _ := p.agent.mustRecv()
			if pkt.SSRC != uint32(i+1) || pkt.Payload[0] != byte(i) || pkt.Payload[1] != byte(seq) {
				t.Fatalf("agent %d got SSRC %d payload %v, want SSRC %d payload [%d %d]", i, pkt.SSRC, pkt.Payload, i+1, i, seq)
			}
		}
		for _, p := range ps {
			p.agent.expectNothing(10 * time.Millisecond)
		}
	}
	ps := make([]*pair, calls)
	for i := range ps {
		ps[i] = open()
	}
	check(ps, 1)
	for i := 0; i < calls; i += 2 { // half hang up; new calls take their places
		_ = ps[i].a.Close()
		_ = ps[i].b.Close()
		<-ps[i].a.Done()
		<-ps[i].b.Done()
		ps[i] = open()
	}
	check(ps, 2)
	for _, p := range ps {
		_ = p.a.Close()
		_ = p.b.Close()
	}
}

func TestConfigReaders(t *testing.T) {
	for _, n := range []int{-2, maxReaders + 1} {
		c := testConfig()
		c.Readers = n
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "readers") {
			t.Errorf("readers %d: Validate = %v, want an error naming readers", n, err)
		}
	}
	for _, n := range []int{-1, 0, 4, maxReaders} {
		c := testConfig()
		c.Readers = n
		if err := c.Validate(); err != nil {
			t.Errorf("readers %d: %v", n, err)
		}
	}
}
