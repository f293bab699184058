package media

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.Timeout = 300 * time.Millisecond
	ports := newTestPorts(t, 2)
	leg := newTestLeg(t, cfg, ports)
	phone := newPeer(t)
	leg.SetRemote(phone.addr(), fmtPCMU)
	leg.Start()
	select {
	case <-leg.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("leg did not time out")
	}
	if leg.Err() != ErrTimeout {
		t.Errorf("Err = %v, want ErrTimeout", leg.Err())
	}
	if ports.InUse() != 0 {
		t.Errorf("ports still held after timeout: %d", ports.InUse())
	}
	// Close after a timeout is harmless and keeps the cause.
	if err := leg.Close(); err != nil || leg.Err() != ErrTimeout {
		t.Errorf("Close = %v, Err = %v", err, leg.Err())
	}
}

func TestNoTimeoutBeforeRemoteOrWhileOnHold(t *testing.T) {
	cfg := testConfig()
	cfg.Timeout = 100 * time.Millisecond
	cfg.HoldTimeout = time.Hour
	ports := newTestPorts(t, 2)
	ringing := newTestLeg(t, cfg, ports) // an agent's phone still ringing: no SDP answer yet
	held := newTestLeg(t, cfg, ports)
	phone := newPeer(t)
	held.SetRemote(phone.addr(), fmtPCMU)
	held.SetHold(true)
	ringing.Start()
	held.Start()
	select {
	case <-ringing.Done():
		t.Fatal("leg without a remote timed out")
	case <-held.Done():
		t.Fatal("leg on hold timed out after Timeout instead of HoldTimeout")
	case <-time.After(500 * time.Millisecond):
	}
	held.SetHold(false)
	select {
	case <-held.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("leg taken off hold did not time out")
	}
	if held.Err() != ErrTimeout || ringing.Err() != nil {
		t.Errorf("Err = %v, %v", held.Err(), ringing.Err())
	}
}

func TestCloseEndsEverything(t *testing.T) {
	defer goleak.VerifyNone(t)
	ports := newTestPorts(t, 2)
	cfg := testConfig()
	a, err := NewLeg(cfg, ports, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewLeg(cfg, ports, nil)
	if err != nil {
		t.Fatal(err)
	}
	caller, agent := newPeer(t), newPeer(t)
	a.SetRemote(caller.addr(), fmtPCMU)
	b.SetRemote(agent.addr(), fmtPCMA)
	digits := 0
	a.OnDTMF(func(rune) { digits++; _ = a.Close() }) // closing from the callback must not deadlock
	a.Start()
	a.Start()
	b.Start()
	a.Play(NewTone([]float64{425}, time.Second, 4*time.Second, 0.3))
	Bridge(a, b)
	b.Play(NewTone([]float64{425}, 0, 0, 0.3))
	caller.send(a.LocalAddr(), audioPacket(0, 1, 0, 1, make([]byte, 160)))
	agent.mustRecv()
	caller.send(a.LocalAddr(), dtmfPacket(101, 2, 160, 4, true, 800, false))
	select {
	case <-a.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("Close from OnDTMF did not end the leg")
	}
	if a.Err() != nil || digits != 1 {
		t.Errorf("Err = %v, digits %d", a.Err(), digits)
	}
	// b is no longer bridged: its tone plays now (after the key's
	// telephone-event, relayed before the key was reported).
	pkt, _ := agent.mustRecv()
	if pkt.PayloadType == 96 {
		pkt, _ = agent.mustRecv()
	}
	if pkt.PayloadType != 8 {
		t.Errorf("b plays PT %d, want 8", pkt.PayloadType)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Close()
	}()
	_ = b.Close()
	<-done
	<-b.Done()
	b.Play(NewTone([]float64{425}, 0, 0, 0.3)) // after Close: nothing
	b.Start()
	if ports.InUse() != 0 {
		t.Errorf("InUse = %d after Close", ports.InUse())
	}
}
