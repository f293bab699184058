package sip

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/zaf/g711"

	"hotline/audio"
	"hotline/callflow"
	"hotline/routing/acd"
	"hotline/sip/sdp"
)

// hasCodec reports whether m offers a codec (or telephone-event) by name.
func hasCodec(m *sdp.Media, name string) bool {
	if m.DTMF != nil && strings.EqualFold(name, "telephone-event") {
		return true
	}
	for _, c := range m.Codecs {
		if strings.EqualFold(c.Name, name) {
			return true
		}
	}
	return false
}

// connectCall places a call from caller to 1900, has agent (registered)
// answer it and checks media flows both ways. It returns the caller's call
// and the agent's INVITE.
func connectCall(t *testing.T, caller, agent *phone) (*outCall, *incoming) {
	t.Helper()
	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	in := agent.nextInvite()
	in.ring()
	call.waitStatus(180)
	in.answer()
	ans := call.answered()
	if err := in.wait(); err != nil {
		t.Fatalf("agent's answer: %v", err)
	}
	flows(t, caller, ans.Audio.Addr, agent)
	flows(t, agent, in.remoteRTP(), caller)
	return call, in
}

func TestFreeAgentRingsAndBridges(t *testing.T) {
	f := newFixture(t)
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)

	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	in := agent.nextInvite()
	if in.callID() == call.id {
		t.Errorf("agent's INVITE reuses the caller's Call-ID %q", call.id)
	}
	if got := in.req.From().Address.User; got != "5551234" {
		t.Errorf("agent's INVITE From user = %q, want the caller's number 5551234", got)
	}
	for _, name := range []string{"PCMU", "PCMA", "telephone-event"} {
		if !hasCodec(&in.offer.Audio, name) {
			t.Errorf("agent's offer lacks %s: %s", name, in.req.Body())
		}
	}
	in.ring()
	call.waitStatus(180)
	if st := call.statuses(); st[0] != 100 {
		t.Errorf("caller's first response = %d, want 100 Trying (all: %v)", st[0], st)
	}
	in.answer()
	ans := call.answered()
	if err := in.wait(); err != nil {
		t.Fatalf("agent's 200 not ACKed: %v", err)
	}
	if !hasCodec(&ans.Audio, "PCMU") || ans.Audio.Direction != sdp.SendRecv {
		t.Errorf("caller's answer: codecs %v direction %s, want PCMU sendrecv", ans.Audio.Codecs, ans.Audio.Direction)
	}

	// RTP both ways, each side sending to the address in the SDP it got;
	// Hotline sends from the port it announced (symmetric RTP).
	if src := flows(t, caller, ans.Audio.Addr, agent); src != in.remoteRTP() {
		t.Errorf("agent got RTP from %s, want Hotline's announced %s", src, in.remoteRTP())
	}
	if src := flows(t, agent, in.remoteRTP(), caller); src != ans.Audio.Addr {
		t.Errorf("caller got RTP from %s, want Hotline's announced %s", src, ans.Audio.Addr)
	}
	if got := f.srv.ActiveCalls(); got != 1 {
		t.Errorf("ActiveCalls = %d during the call, want 1", got)
	}

	call.bye()
	agent.waitRequest(sip.BYE, in.callID())
	f.checkIdle()
}

// TestAgentBehindEdgeRungFromTheListener: an agent registered through an
// edge proxy (Path, RFC 3327) is rung through that proxy. The proxy never
// sent Hotline anything before; the INVITE, and the BYE that ends the
// call, still come from Hotline's SIP address: a Kamailio edge tells its
// nodes from callers by source address, and took a node's INVITE from a
// port of its own for a caller's call.
func TestAgentBehindEdgeRungFromTheListener(t *testing.T) {
	f := newFixture(t)
	edge := newPhone(t, "edge", f.addr)
	agent := newPhone(t, "alice", f.addr)
	route := "<sip:" + edge.addr.String() + ";lr>"
	agent.register("alice", sip.NewHeader("Path", route))
	caller := newPhone(t, "5551234", f.addr)

	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	in := edge.nextInvite() // the edge answers for the phone behind it
	if src := in.req.Source(); src != f.addr.String() {
		t.Errorf("INVITE reached the edge from %s, want Hotline's SIP address %s", src, f.addr)
	}
	if r := in.req.GetHeader("Route"); r == nil || r.Value() != route {
		t.Errorf("INVITE's Route %v, want the Path %s", r, route)
	}
	if u := in.req.Recipient; u.User != "alice" || u.Port != int(agent.addr.Port()) {
		t.Errorf("INVITE's Request-URI %s, want alice's contact", u.String())
	}
	in.answer()
	call.answered()
	if err := in.wait(); err != nil {
		t.Fatalf("agent's 200 not ACKed: %v", err)
	}
	call.bye()
	bye := edge.waitRequest(sip.BYE, in.callID())
	if src := bye.Source(); src != f.addr.String() {
		t.Errorf("BYE reached the edge from %s, want Hotline's SIP address %s", src, f.addr)
	}
	if n := len(agent.requests(sip.INVITE, "")); n != 0 {
		t.Errorf("the phone behind the edge got %d INVITEs straight from Hotline, want none", n)
	}
	f.checkIdle()
}

// wantRecord checks a call's record.
func wantRecord(t *testing.T, f *fixture, callID, outcome string, cause error, agent string) callflow.Record {
	t.Helper()
	r := f.record(callID)
	if r.Outcome != outcome || r.Cause != cause.Error() || r.Agent != agent {
		t.Errorf("call record: outcome %q cause %q agent %q, want %q %q %q", r.Outcome, r.Cause, r.Agent, outcome, cause, agent)
	}
	return r
}

// waitAgentState waits until routing reports an agent in a state.
func waitAgentState(t *testing.T, f *fixture, user string, want acd.AgentState) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for f.agentState(user) != want {
		if time.Now().After(deadline) {
			t.Fatalf("agent %s is %s, want %s", user, f.agentState(user), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAgentHangsUpFirst(t *testing.T) {
	f := newFixture(t)
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)

	call, in := connectCall(t, caller, agent)
	waitAgentState(t, f, "alice", acd.StateOnCall)
	in.bye()
	caller.waitRequest(sip.BYE, call.id)
	f.checkIdle()
	wantRecord(t, f, call.id, callflow.OutcomeAnswered, callflow.ErrAgentHangup, "alice")
	waitAgentState(t, f, "alice", acd.StateAvailable)
	if n := len(agent.requests(sip.BYE, "")); n != 0 {
		t.Errorf("agent who hung up got %d BYEs, want none", n)
	}
}

func TestCallerCancelsWhileAgentRings(t *testing.T) {
	f := newFixture(t)
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)

	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	in := agent.nextInvite()
	in.ring()
	call.waitStatus(180)
	call.cancel()
	res, _ := call.result()
	if res == nil || res.StatusCode != 487 {
		t.Fatalf("caller's INVITE ended with %v, want 487 Request Terminated", res)
	}
	agent.waitRequest(sip.CANCEL, in.callID())
	if err := in.wait(); err == nil {
		t.Error("agent's INVITE was not cancelled")
	}
	f.checkIdle()
	wantRecord(t, f, call.id, callflow.OutcomeAbandoned, callflow.ErrCallerHangup, "")
	waitAgentState(t, f, "alice", acd.StateAvailable)
	// The agent's 487 must be acknowledged, or its phone keeps resending
	// it (waited for: the ACK may follow the phone's end of the INVITE).
	agent.waitRequest(sip.ACK, in.callID())
}

func TestNextAgent(t *testing.T) {
	// Each case has alice fail to take the call, then bob answers it.
	cases := []struct {
		name  string
		alice func(t *testing.T, in *incoming)
	}{
		{"busy", func(t *testing.T, in *incoming) {
			in.ring()
			in.reject(486)
			if err := in.wait(); err != nil {
				t.Errorf("486: %v", err)
			}
		}},
		{"only 100 Trying", func(t *testing.T, in *incoming) {
			// A phone whose 180 got lost: Hotline must still CANCEL it,
			// or it rings on after the call has moved to bob.
			in.trying()
			in.p.waitRequest(sip.CANCEL, in.callID())
			if err := in.wait(); err == nil {
				t.Error("alice's INVITE was not cancelled")
			}
		}},
		{"answers without a common codec", func(t *testing.T, in *incoming) {
			// Hotline takes the answer (ACK) and hangs up at once (BYE).
			in.answerWith(in.p.sdp(sdp.SendRecv, audio.Codec{PT: 18, Name: "G729", Rate: 8000}))
			_ = in.wait() // the phone may see the BYE before the ACK
			in.p.waitRequest(sip.ACK, in.callID())
			in.p.waitRequest(sip.BYE, in.callID())
		}},
		{"no answer", func(t *testing.T, in *incoming) {
			in.ring()
			in.p.waitRequest(sip.CANCEL, in.callID()) // after the ring timeout
			if err := in.wait(); err == nil {
				t.Error("alice's INVITE was not cancelled")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			alice := newPhone(t, "alice", f.addr)
			alice.register("alice") // idle longest: offered first
			bob := newPhone(t, "bob", f.addr)
			bob.register("bob")
			caller := newPhone(t, "5551234", f.addr)

			call := caller.call("1900", caller.sdp(sdp.SendRecv))
			inA := alice.nextInvite()
			tc.alice(t, inA)
			inB := bob.nextInvite()
			if inB.callID() == inA.callID() {
				t.Errorf("bob's INVITE has alice's Call-ID")
			}
			inB.ring()
			inB.answer()
			ans := call.answered()
			if err := inB.wait(); err != nil {
				t.Fatal(err)
			}
			flows(t, caller, ans.Audio.Addr, bob)
			flows(t, bob, inB.remoteRTP(), caller)
			if st := call.statuses(); slices.ContainsFunc(st, func(c int) bool { return c >= 300 }) {
				t.Errorf("caller got %v, want no failure while agents are tried", st)
			}
			call.bye()
			bob.waitRequest(sip.BYE, inB.callID())
			f.checkIdle()
			wantRecord(t, f, call.id, callflow.OutcomeAnswered, callflow.ErrCallerHangup, "bob")
			alice.noInvite() // not offered the same call again within the retry delay
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		f := newFixture(t)
		// carol registered, then her phone vanished: nothing answers
		// at her contact any more.
		gone := newPhone(t, "carol", f.addr)
		gone.register("carol")
		gone.close()
		alice := newPhone(t, "alice", f.addr)
		alice.register("alice")
		caller := newPhone(t, "5551234", f.addr)

		call := caller.call("1900", caller.sdp(sdp.SendRecv))
		in := alice.nextInvite()
		in.answer()
		ans := call.answered()
		if err := in.wait(); err != nil {
			t.Fatal(err)
		}
		flows(t, caller, ans.Audio.Addr, alice)
		flows(t, alice, in.remoteRTP(), caller)
		if st := call.statuses(); slices.Contains(st, 180) {
			t.Errorf("caller got %v: 180 although no phone rang", st)
		}
		call.bye()
		alice.waitRequest(sip.BYE, in.callID())
		f.checkIdle()
		wantRecord(t, f, call.id, callflow.OutcomeAnswered, callflow.ErrCallerHangup, "alice")
		waitAgentState(t, f, "carol", acd.StateAvailable)
	})
}

func TestQueuedCallerGetsHoldToneThenAgent(t *testing.T) {
	f := newFixture(t)
	caller := newPhone(t, "5551234", f.addr)
	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	ans := call.answered() // nobody free: Hotline answers and queues the caller
	src, err := caller.rtpFrom(0, 10)
	if err != nil {
		t.Fatalf("hold tone: %v", err)
	}
	if src != ans.Audio.Addr {
		t.Errorf("hold tone from %s, want Hotline's announced %s", src, ans.Audio.Addr)
	}
	if got := f.acd.Waiting(); got != 1 {
		t.Errorf("Waiting = %d, want 1", got)
	}

	agent := newPhone(t, "bob", f.addr)
	agent.register("bob")
	in := agent.nextInvite()
	if in.callID() == call.id || in.req.From().Address.User != "5551234" {
		t.Errorf("agent's INVITE: Call-ID %s From %s", in.callID(), in.req.From().Address.String())
	}
	in.ring()
	in.answer()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
	flows(t, caller, ans.Audio.Addr, agent)
	flows(t, agent, in.remoteRTP(), caller)
	if st := call.statuses(); slices.Contains(st, 180) {
		t.Errorf("answered caller got %v, want no 180 after the 200", st)
	}
	if got := len(caller.requests(sip.INVITE, call.id)); got != 0 {
		t.Errorf("caller got %d re-INVITEs, want none", got)
	}
	in.bye()
	caller.waitRequest(sip.BYE, call.id)
	f.checkIdle()
	r := wantRecord(t, f, call.id, callflow.OutcomeAnswered, callflow.ErrAgentHangup, "bob")
	if r.Answered.IsZero() || r.Bridged.Before(r.Answered) {
		t.Errorf("call record: answered %v, bridged %v", r.Answered, r.Bridged)
	}
}

func TestMaxWaitHangsUp(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) { o.routing.Queue.MaxWait = time.Second })
	caller := newPhone(t, "5551234", f.addr)
	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	call.answered()
	caller.waitRequest(sip.BYE, call.id)
	f.checkIdle()
	wantRecord(t, f, call.id, callflow.OutcomeTimeout, callflow.ErrMaxWait, "")
	if got := f.acd.Waiting(); got != 0 {
		t.Errorf("Waiting = %d after the call, want 0", got)
	}
}

func TestReInviteHoldAndUnhold(t *testing.T) {
	f := newFixture(t)
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)
	call, in := connectCall(t, caller, agent)
	callerAddr := call.answered().Audio.Addr
	agentOffer, err := sdp.Parse(in.req.Body())
	if err != nil {
		t.Fatal(err)
	}
	// What each phone last got from Hotline: o= version and direction.
	type seen struct {
		ver uint64
		dir sdp.Direction
	}
	callerSaw := seen{call.answered().Version, sdp.SendRecv}
	agentSaw := seen{agentOffer.Version, sdp.SendRecv}

	// check sends a re-INVITE offering dir and checks the answer's
	// direction; the o= version grows exactly when the answer changes
	// (RFC 3264 §8).
	check := func(who string, send func([]byte) *sip.Response, p *phone, dir, want sdp.Direction, last *seen) {
		t.Helper()
		res := send(p.sdp(dir, audio.PCMU()))
		if res.StatusCode != 200 {
			t.Fatalf("%s re-INVITE %s: got %d %s, want 200", who, dir, res.StatusCode, res.Reason)
		}
		s, err := sdp.Parse(res.Body())
		if err != nil {
			t.Fatalf("%s re-INVITE %s: answer SDP: %v", who, dir, err)
		}
		if s.Audio.Direction != want {
			t.Errorf("%s re-INVITE %s: answer is %s, want %s", who, dir, s.Audio.Direction, want)
		}
		switch {
		case want != last.dir && s.Version <= last.ver:
			t.Errorf("%s re-INVITE %s: changed answer has o= version %d, want more than %d", who, dir, s.Version, last.ver)
		case want == last.dir && s.Version != last.ver:
			t.Errorf("%s re-INVITE %s: unchanged answer has o= version %d, want %d", who, dir, s.Version, last.ver)
		}
		*last = seen{s.Version, s.Audio.Direction}
	}
	check("caller", call.reinvite, caller, sdp.SendOnly, sdp.RecvOnly, &callerSaw)
	flows(t, caller, callerAddr, agent) // music on hold still reaches the agent
	check("caller", call.reinvite, caller, sdp.SendRecv, sdp.SendRecv, &callerSaw)
	flows(t, caller, callerAddr, agent)
	flows(t, agent, in.remoteRTP(), caller)

	// The agent holds: the caller hears Hotline's hold music (hold.go),
	// not what the agent's phone sends (often nothing).
	check("agent", in.reinvite, agent, sdp.SendOnly, sdp.RecvOnly, &agentSaw)
	hearsSound(t, caller, 5)
	check("agent", in.reinvite, agent, sdp.SendRecv, sdp.SendRecv, &agentSaw)
	flows(t, caller, callerAddr, agent)
	flows(t, agent, in.remoteRTP(), caller)

	// The caller's phone changes network: its re-INVITE names a new RTP
	// address, where the agent's audio must go from now on.
	caller.moveRTP()
	check("caller", call.reinvite, caller, sdp.SendRecv, sdp.SendRecv, &callerSaw)
	flows(t, agent, in.remoteRTP(), caller)
	flows(t, caller, callerAddr, agent)

	if got := f.srv.ActiveCalls(); got != 1 {
		t.Errorf("ActiveCalls = %d after the re-INVITEs, want 1", got)
	}
	if n := len(caller.requests(sip.BYE, "")) + len(agent.requests(sip.BYE, "")); n != 0 {
		t.Fatalf("%d BYEs during re-INVITEs, want the call to stay up", n)
	}
	call.bye()
	agent.waitRequest(sip.BYE, in.callID())
	f.checkIdle()
}

// The record of a call both sides put on hold, overlapping (the caller
// sendonly, then the agent inactive; the caller resumes, then the agent):
// its hold is the time either was on hold, counted once, and its talk the
// rest of the connected time.
func TestHoldTimeInRecord(t *testing.T) {
	f := newFixture(t)
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)
	call, in := connectCall(t, caller, agent)
	reinvite := func(send func([]byte) *sip.Response, p *phone, dir sdp.Direction) {
		t.Helper()
		if res := send(p.sdp(dir, audio.PCMU())); res.StatusCode != 200 {
			t.Fatalf("re-INVITE %s: %d %s", dir, res.StatusCode, res.Reason)
		}
	}
	// The hold starts while the first re-INVITE is answered and ends
	// while the last one is: the record's hold is within these bounds.
	firstSent := time.Now()
	reinvite(call.reinvite, caller, sdp.SendOnly)
	firstDone := time.Now()
	time.Sleep(300 * time.Millisecond)
	reinvite(in.reinvite, agent, sdp.Inactive)
	time.Sleep(400 * time.Millisecond)
	reinvite(call.reinvite, caller, sdp.SendRecv)
	time.Sleep(200 * time.Millisecond)
	lastSent := time.Now()
	reinvite(in.reinvite, agent, sdp.SendRecv)
	lastDone := time.Now()
	time.Sleep(200 * time.Millisecond)
	call.bye()
	agent.waitRequest(sip.BYE, in.callID())
	r := wantRecord(t, f, call.id, callflow.OutcomeAnswered, callflow.ErrCallerHangup, "alice")
	if lo, hi := lastSent.Sub(firstDone), lastDone.Sub(firstSent); r.Hold < lo || r.Hold > hi {
		t.Errorf("hold %v, want between %v and %v (once, though both sides held)", r.Hold, lo, hi)
	}
	if got := r.Talk + r.Hold; got != r.Ended.Sub(r.Bridged) {
		t.Errorf("talk %v + hold %v = %v, want the connected time %v", r.Talk, r.Hold, got, r.Ended.Sub(r.Bridged))
	}
	f.checkIdle()
}

func TestMediaTimeoutHangsUpBoth(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) { o.media.Timeout = time.Second })
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)

	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	in := agent.nextInvite()
	in.answer()
	ans := call.answered()
	// Both phones talk from the moment they are connected...
	fromCaller := caller.sendRTP(ans.Audio.Addr, 0x1111)
	defer fromCaller.Stop()
	fromAgent := agent.sendRTP(in.remoteRTP(), 0x2222)
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.rtpFrom(0x1111, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := caller.rtpFrom(0x2222, 3); err != nil {
		t.Fatal(err)
	}
	// ...until the agent's phone goes silent (network gone).
	fromAgent.Stop()
	caller.waitRequest(sip.BYE, call.id)
	agent.waitRequest(sip.BYE, in.callID())
	f.checkIdle()
	wantRecord(t, f, call.id, callflow.OutcomeAnswered, callflow.ErrAgentTimeout, "alice")
}

func TestQueueServesCallersInArrivalOrder(t *testing.T) {
	f := newFixture(t)
	first := newPhone(t, "5551111", f.addr)
	second := newPhone(t, "5552222", f.addr)
	c1 := first.call("1900", first.sdp(sdp.SendRecv))
	a1 := c1.answered()
	waitWaiting(t, f, 1)
	c2 := second.call("1900", second.sdp(sdp.SendRecv))
	a2 := c2.answered()
	waitWaiting(t, f, 2)

	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	in := agent.nextInvite()
	if got := in.req.From().Address.User; got != "5551111" {
		t.Fatalf("first offer is for %s, want the first caller 5551111", got)
	}
	in.answer()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
	flows(t, first, a1.Audio.Addr, agent)
	flows(t, agent, in.remoteRTP(), first)
	in.bye()
	first.waitRequest(sip.BYE, c1.id)

	// The agent is free again: the second caller's turn.
	in = agent.nextInvite()
	if got := in.req.From().Address.User; got != "5552222" {
		t.Fatalf("second offer is for %s, want 5552222", got)
	}
	in.answer()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
	flows(t, second, a2.Audio.Addr, agent)
	flows(t, agent, in.remoteRTP(), second)
	c2.bye()
	agent.waitRequest(sip.BYE, in.callID())
	f.checkIdle()
}

// waitWaiting waits until n callers wait for an agent.
func waitWaiting(t *testing.T, f *fixture, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for f.acd.Waiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting, want %d", f.acd.Waiting(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTranscodesBetweenCodecs(t *testing.T) {
	f := newFixture(t)
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)

	call := caller.call("1900", caller.sdp(sdp.SendRecv, audio.PCMA()))
	in := agent.nextInvite()
	if c := in.offer.Audio.Codecs; len(c) == 0 || c[0].Name != "PCMA" {
		t.Errorf("agent's offer %v: want the caller's PCMA first", c)
	}
	in.answer() // the agent's phone picks PCMU
	ans := call.answered()
	if len(ans.Audio.Codecs) != 1 || ans.Audio.Codecs[0].Name != "PCMA" {
		t.Errorf("caller's answer %v, want PCMA only", ans.Audio.Codecs)
	}
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}

	const level = 10000 // a loud sample, the same both ways
	check := func(from, to *phone, dst netip.AddrPort, pt uint8, sample byte, wantPT uint8, decode func(uint8) int16) {
		t.Helper()
		ssrc := rand.Uint32() | 1
		s := from.sendAudio(dst, ssrc, pt, sample)
		pkts, _, err := to.rtpPackets(ssrc, 3)
		s.Stop()
		if err != nil {
			t.Fatalf("%s to %s: %v", from.user, to.user, err)
		}
		p := pkts[len(pkts)-1]
		if p.PayloadType != wantPT || len(p.Payload) != 160 {
			t.Fatalf("%s to %s: got PT %d with %d bytes, want PT %d with 160", from.user, to.user, p.PayloadType, len(p.Payload), wantPT)
		}
		if v := decode(p.Payload[0]); v < level*9/10 || v > level*11/10 {
			t.Errorf("%s to %s: sample decodes to %d, want about %d", from.user, to.user, v, level)
		}
	}
	check(caller, agent, ans.Audio.Addr, 8, g711.EncodeAlawFrame(level), 0, g711.DecodeUlawFrame)
	check(agent, caller, in.remoteRTP(), 0, g711.EncodeUlawFrame(level), 8, g711.DecodeAlawFrame)
	call.bye()
	agent.waitRequest(sip.BYE, in.callID())
	f.checkIdle()
}

func TestShutdownWhileRinging(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) {
		o.cfg.DrainTimeout = time.Second
		o.routing.Queue.RingTimeout = 20 * time.Second
	})
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)
	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	in := agent.nextInvite()
	in.ring()
	call.waitStatus(180)

	shut := make(chan error, 1)
	go func() { shut <- f.srv.Shutdown(context.Background()) }()
	res, _ := call.result()
	if res == nil || res.StatusCode != 503 {
		t.Errorf("ringing caller at shutdown got %v, want 503", res)
	}
	agent.waitRequest(sip.CANCEL, in.callID())
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	wantRecord(t, f, call.id, callflow.OutcomeFailed, callflow.ErrShutdown, "")
}

// TestReservationLostStopsTheRinging: when the cluster finds that an
// agent's reservation for a call was taken by another offer (after a long
// loss of Redis), her ringing phone is cancelled, the offer is withdrawn
// without counting as unanswered (she is rung again for the call a
// second later, not after the 30 s retry delay of a missed offer), and
// the caller, still queued, gets her when she answers. A lost reservation
// of an agent not ringing for the call stops nothing.
func TestReservationLostStopsTheRinging(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) { o.routing.Queue.RingTimeout = 20 * time.Second })
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)

	call := caller.call("1900", caller.sdp(sdp.SendRecv))
	in := agent.nextInvite()
	in.ring()
	call.waitStatus(180)
	f.srv.rings.mu.Lock()
	var id string
	for k := range f.srv.rings.m {
		if k.agent == "alice" {
			id = k.call
		}
	}
	f.srv.rings.mu.Unlock()
	if id == "" {
		t.Fatal("alice's ringing is not registered")
	}
	f.srv.ReservationLost("bob", id) // not rung for it: nothing happens
	f.srv.ReservationLost("alice", id)
	agent.waitRequest(sip.CANCEL, in.callID())
	if err := in.wait(); err == nil {
		t.Error("alice's INVITE was not cancelled")
	}
	start := time.Now()
	again := agent.nextInvite()
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("alice rung again after %s, want about a second (not the retry delay of a missed offer)", took)
	}
	again.answer()
	if err := again.wait(); err != nil {
		t.Fatalf("alice's answer: %v", err)
	}
	call.answered()
	waitAgentState(t, f, "alice", acd.StateOnCall)
	call.bye()
	f.checkIdle()
	wantRecord(t, f, call.id, callflow.OutcomeAnswered, callflow.ErrCallerHangup, "alice")
}
