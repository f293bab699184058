package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotline/internal/e2e"
)

// TestE2ELinphoneAgent: a linphonec agent (linphone-cli, no sound card:
// it plays a 440 Hz WAV and records what it receives) registers with
// digest auth, is rung for a SIPp caller's call and auto-answers; the
// caller hears the agent's tone and the agent the caller's; the caller's
// BYE ends the agent's call too.
func TestE2ELinphoneAgent(t *testing.T) {
	skipShort(t)
	a := startApp(t, nil)
	ag, ok := a.cfg.Agent("alice")
	if !ok {
		t.Fatal("agent alice not configured")
	}
	src := filepath.Join(t.TempDir(), "agent.wav")
	if err := e2e.WriteWAV(src, e2e.ToneSamples(agentHz, 60*time.Second, 8000, 0), 8000, 1); err != nil {
		t.Fatal(err)
	}
	agent := e2e.StartLinphone(t, e2e.LinphoneOptions{User: "alice", Password: ag.Password, Registrar: a.sipAddr("udp"),
		SourceWAV: src, Record: true, AutoAnswer: true})

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if err := agent.WaitRegistered(ctx); err != nil {
		t.Fatalf("linphone agent did not register: %v", err)
	}
	waitFor(t, 5*time.Second, "alice registered", func() bool {
		info, _ := a.acd.Agent("alice")
		return info.Registered
	})
	b := a.sip.Registrar().Lookup("alice")
	if len(b) != 1 || b[0].Contact.Port != agent.SIPPort {
		t.Fatalf("alice's bindings %+v, want linphone's contact on port %d", b, agent.SIPPort)
	}

	rec := e2e.NewUDPRecorder(t)
	p := e2e.StartSIPp(t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "0912345678",
		Scenario: e2e.UACPlayPCAP("", 6*time.Second).WithMediaPort(rec.Port()),
	})
	callerTalks(ctx, t, p, rec, func(ctx context.Context) error {
		_, err := agent.WaitCallConnected(ctx)
		return err
	})
	// Hotline's BYE ends it "(No error)"; linphonec's own hang-up on lost
	// media would say "(IO error)".
	if end, err := agent.WaitCallEnded(ctx); err != nil {
		t.Fatalf("linphone agent's call not ended after the caller's BYE: %v", err)
	} else if !strings.Contains(end, "(No error)") || !strings.Contains(end, "0912345678") {
		t.Errorf("linphone agent: %q, want the call from 0912345678 ended by Hotline's BYE (No error)", end)
	}
	if got := e2e.DominantTone(rec.Samples(), 8000, tones); got != agentHz {
		t.Errorf("caller heard %v Hz, want the linphone agent's %v Hz (%+v)", got, agentHz, rec.Stats())
	}
	s, rate, err := e2e.ReadWAV(agent.RecordPath)
	if err != nil {
		t.Fatalf("linphone agent's recording: %v", err)
	}
	if tone, active := e2e.DominantTone(s, rate, tones), e2e.ActiveDuration(s, rate); tone != callerHz || active < 2*time.Second {
		t.Errorf("linphone agent heard %v Hz for %s, want the caller's %v Hz for 3 s", tone, active, callerHz)
	}
	waitIdle(t, a)
}
