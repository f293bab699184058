package sip

import (
	"bytes"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/callflow/callmetrics"
	"hotline/internal/promtest"
	"hotline/metrics"
	"hotline/routing/config"
	"hotline/sip/sdp"
)

// monitorFixture is Hotline with sue, a supervisor, besides the agents.
func monitorFixture(t *testing.T) (*fixture, *metrics.Metrics) {
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	f := newFixture(t, func(o *fixtureOpts) {
		o.routing.Agents = append(o.routing.Agents, config.Agent{Username: "sue", Password: agentPassword("sue"), Name: "Sue", Role: config.RoleSupervisor})
		o.deps = func(d *Deps) { d.Metrics, d.CallMetrics = m, callmetrics.New(m) }
	})
	return f, m
}

// dialMonitor has user's phone dial *31<agent># (authenticating as user).
func dialMonitor(t *testing.T, f *fixture, user, agent string) (*phone, *outCall) {
	t.Helper()
	p := newPhone(t, user, f.addr)
	p.authPass = agentPassword(user)
	return p, p.call("*31"+agent+"%23", p.sdp(sdp.SendRecv))
}

func finalStatus(t *testing.T, c *outCall) (int, string) {
	t.Helper()
	res, _ := c.result()
	if res == nil {
		t.Fatalf("call %s: no final response", c.id)
	}
	return res.StatusCode, res.Reason
}

// TestMonitorFeatureCodeRefusals: *31<agent># from an agent who is not a
// supervisor, for a supervisor's own calls, for an agent not on a call,
// gets the refusal a phone shows; the call goes on.
func TestMonitorFeatureCodeRefusals(t *testing.T) {
	f, _ := monitorFixture(t)
	caller, agent, call, in := aliceTakesACall(t, f)
	for _, tc := range []struct {
		user, agent string
		code        int
		reason      string
	}{
		{"bob", "alice", 403, "Not A Supervisor"},
		{"sue", "sue", 403, "Cannot Monitor Yourself"},
		{"sue", "carol", 404, "Agent Not On A Call"},
	} {
		_, c := dialMonitor(t, f, tc.user, tc.agent)
		if code, reason := finalStatus(t, c); code != tc.code || reason != tc.reason {
			t.Errorf("%s monitoring %s: %d %s, want %d %s", tc.user, tc.agent, code, reason, tc.code, tc.reason)
		}
	}
	flows(t, caller, call.answered().Audio.Addr, agent)
	flows(t, agent, in.remoteRTP(), caller)
	call.bye()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
}

// TestMonitorFeatureCode: sue dials *31alice#, is answered and hears the
// call (the mix reaches her phone); in listen the agent gets the
// caller's packets untouched; key 5 (whisper) makes the agent's audio
// the caller's plus sue's; a second supervisor is refused (486); when
// the call ends Hotline hangs sue up.
func TestMonitorFeatureCode(t *testing.T) {
	f, m := monitorFixture(t)
	caller, agent, call, in := aliceTakesACall(t, f)
	callerToHotline := call.answered().Audio.Addr

	sue, mon := dialMonitor(t, f, "sue", "alice")
	ans := mon.answered()
	// Sue hears the call: Hotline's mix (its own stream) reaches her.
	callerTalks := caller.sendAudio(callerToHotline, 0xCA11, 0, 0x90) // a constant level
	defer callerTalks.Stop()
	if _, err := sue.rtpFrom(0, 10); err != nil {
		t.Fatalf("sue hears nothing: %v", err)
	}
	// Listen: alice gets the caller's packets as sent.
	pkts, _, err := agent.rtpPackets(0xCA11, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if !bytes.Equal(p.Payload, bytes.Repeat([]byte{0x90}, 160)) {
			t.Fatalf("in listen the agent got altered audio %x...", p.Payload[:4])
		}
	}
	// Whisper (key 5) while sue talks: alice gets caller + sue.
	sueTalks := sue.sendAudio(ans.Audio.Addr, 0x5E, 0, 0xA0)
	defer sueTalks.Stop()
	sue.sendDTMF(ans.Audio.Addr, '5')
	deadline := time.Now().Add(waitTimeout)
	for mixed := false; !mixed; {
		if time.Now().After(deadline) {
			t.Fatal("in whisper the agent never heard the supervisor")
		}
		pkts, _, err := agent.rtpPackets(0xCA11, 1)
		if err != nil {
			t.Fatal(err)
		}
		mixed = !bytes.Equal(pkts[0].Payload, bytes.Repeat([]byte{0x90}, 160))
	}
	// One supervisor at a time.
	_, second := dialMonitor(t, f, "sue", "alice")
	if code, reason := finalStatus(t, second); code != 486 || reason != "Already Monitored" {
		t.Errorf("a second monitor: %d %s, want 486 Already Monitored", code, reason)
	}
	// The call ends: Hotline hangs up sue.
	call.bye()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
	bye := sue.waitRequest(sip.BYE, mon.id)
	if bye == nil {
		t.Fatal("the supervisor was not hung up when the call ended")
	}
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameMonitorSessions, "mode", "listen"); got != 1 {
		t.Errorf("%v monitoring sessions counted in listen, want 1", got)
	}
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameMonitorTime, "mode", "whisper"); got <= 0 {
		t.Errorf("no time counted in whisper")
	}
}
