package main

// End-to-end tests: Hotline runs in this process on loopback; the callers
// and agents are real SIP peers (SIPp and baresip) started by the tests.

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotline/internal/e2e"
	"hotline/routing"
)

const (
	callerHz = 1000.0 // what callers send
	agentHz  = 440.0  // what agents send
)

var tones = []float64{callerHz, agentHz}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs SIPp and baresip (make test runs it)")
	}
}

// startAgent starts a baresip softphone registered to Hotline as user.
func startAgent(t *testing.T, a *testApp, user string, opts e2e.BaresipOptions) *e2e.Baresip {
	t.Helper()
	ag, ok := a.cfg.Agent(user)
	if !ok {
		t.Fatalf("agent %s not configured", user)
	}
	opts.User, opts.Password = user, ag.Password
	opts.Registrar = a.sipAddr("udp")
	if opts.Transport == "tcp" {
		opts.Registrar = a.sipAddr("tcp")
	}
	b := e2e.StartBaresip(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := b.WaitRegistered(ctx); err != nil {
		t.Fatalf("agent %s did not register: %v", user, err)
	}
	waitFor(t, 5*time.Second, fmt.Sprintf("agent %s online", user), func() bool {
		return agentState(a, user) != routing.StateOffline
	})
	return b
}

func agentState(a *testApp, user string) routing.AgentState {
	for _, s := range a.pool.Agents() {
		if s.Username == user {
			return s.State
		}
	}
	return ""
}

// waitFor polls cond until it holds or the bound passes.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", bound, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitIdle waits until Hotline has no call and no RTP port in use.
func waitIdle(t *testing.T, a *testApp) {
	t.Helper()
	waitFor(t, 10*time.Second, "no active calls and no RTP ports in use", func() bool {
		return a.sip.ActiveCalls() == 0 && a.sip.Ports().InUse() == 0
	})
}

func tonePCAP(t *testing.T, d time.Duration) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "caller.pcap")
	if err := e2e.WriteTonePCAP(p, callerHz, d, e2e.PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	return p
}

// heard reads the newest recording of what a baresip received and returns
// its dominant tone and how long audio was present.
func heard(t *testing.T, b *e2e.Baresip) (float64, time.Duration) {
	t.Helper()
	wavs := b.ReceivedWAVs()
	if len(wavs) == 0 {
		t.Fatalf("%s recorded nothing", b.AOR)
	}
	s, rate, err := e2e.ReadWAV(wavs[len(wavs)-1])
	if err != nil {
		t.Fatal(err)
	}
	return e2e.DominantTone(s, rate, tones), e2e.ActiveDuration(s, rate)
}

// TestE2ESIPpCallerReachesBaresipAgent: a SIPp caller playing a 1000 Hz
// tone from a pcap calls the hotline; the baresip agent, registered with
// its password, auto-answers; the agent hears the caller's tone; the
// caller's BYE tears down the agent's leg too.
func TestE2ESIPpCallerReachesBaresipAgent(t *testing.T) {
	skipShort(t)
	a := startApp(t, nil)
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0912345678",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, 3*time.Second), 4*time.Second),
	})
	res.RequireCalls(t, 1, 0)

	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("agent never had the call: %v", err)
	}
	ev, err := agent.WaitEvent(ctx, e2e.EventCallClosed)
	if err != nil {
		t.Fatalf("agent leg not torn down after the caller's BYE: %v", err)
	}
	if !strings.Contains(ev.Param, "peer") {
		t.Errorf("agent's call closed with %q, want a BYE from Hotline", ev.Param)
	}
	if !strings.Contains(ev.PeerURI, "0912345678") {
		t.Errorf("agent saw the call from %q, want the caller's number", ev.PeerURI)
	}
	tone, active := heard(t, agent)
	if tone != callerHz || active < 2*time.Second {
		t.Errorf("agent heard %v Hz for %s, want %v Hz for the caller's 3 s", tone, active, callerHz)
	}
	waitIdle(t, a)
}

// TestE2ESIPpCallerHearsAgent: with SIPp signalling and the caller's media
// on a recorder socket, each side hears the other's tone.
func TestE2ESIPpCallerHearsAgent(t *testing.T) {
	skipShort(t)
	a := startApp(t, nil)
	agent := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: agentHz, Record: true, AutoAnswer: true})
	rec := e2e.NewUDPRecorder(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Scenario: e2e.UACPlayPCAP("", 5*time.Second).WithMediaPort(rec.Port()),
	})
	if _, err := agent.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatalf("agent never had the call: %v", err)
	}
	// Hotline sends the agent's audio to the caller's SDP address; answer
	// from the same socket (symmetric RTP).
	if err := rec.WaitPackets(ctx, 5); err != nil {
		t.Fatalf("caller got no RTP: %v", err)
	}
	if err := rec.SendTone(ctx, netip.AddrPort{}, callerHz, 3*time.Second, e2e.PayloadPCMU); err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
	if _, err := agent.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatal(err)
	}
	s := rec.Samples()
	if got := e2e.DominantTone(s, 8000, tones); got != agentHz {
		t.Errorf("caller heard %v Hz, want the agent's %v Hz (%+v)", got, agentHz, rec.Stats())
	}
	if tone, active := heard(t, agent); tone != callerHz || active < 2*time.Second {
		t.Errorf("agent heard %v Hz for %s, want %v Hz", tone, active, callerHz)
	}
	waitIdle(t, a)
}
