package sip

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"hotline/audio"
	"hotline/callflow"
	"hotline/callflow/callmetrics"
	"hotline/internal/promtest"
	"hotline/metrics"
	"hotline/routing/config"
	"hotline/sip/sdp"
)

// attendedFixture is Hotline with queues general (alice, carol) and
// complaints (bob, transfer number 2001), and metrics.
func attendedFixture(t *testing.T) (*fixture, *metrics.Metrics) {
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	f := newFixture(t, func(o *fixtureOpts) {
		o.routing.Queues = []config.QueueDef{{Name: "general"}, {Name: "complaints", TransferNumber: "2001"}}
		o.routing.Rules = []config.RuleConfig{{Name: "default", Queue: "general"}}
		o.routing.Agents[0].Queues = []string{"general"}    // alice
		o.routing.Agents[1].Queues = []string{"complaints"} // bob
		o.routing.Agents[2].Queues = []string{"general"}    // carol (not registered)
		o.deps = func(d *Deps) { d.Metrics, d.CallMetrics = m, callmetrics.New(m) }
	})
	return f, m
}

// hearsSound reads the phone's RTP until n packets carry sound (G.711
// bytes away from silence): the hold music, not silence.
func hearsSound(t *testing.T, p *phone, n int) {
	t.Helper()
	loud := 0
	for i := 0; i < 500 && loud < n; i++ {
		pkts, _, err := p.rtpPackets(0, 1)
		if err != nil {
			t.Fatalf("%s hears nothing: %v", p.user, err)
		}
		samples := make([]int16, len(pkts[0].Payload))
		audio.Decode(samples, pkts[0].Payload, audio.ULaw)
		for _, s := range samples {
			if s > 1000 || s < -1000 {
				loud++
				break
			}
		}
	}
	if loud < n {
		t.Fatalf("%s heard %d packets with sound, want %d (hold music, not silence)", p.user, loud, n)
	}
}

// hold re-INVITEs the agent's leg with dir and checks the 200.
func hold(t *testing.T, in *incoming, dir sdp.Direction) {
	t.Helper()
	if res := in.reinvite(in.p.sdp(dir, audio.PCMU())); res.StatusCode != 200 {
		t.Fatalf("re-INVITE %s: %d %s", dir, res.StatusCode, res.Reason)
	}
}

// consultBob has alice (holding her caller) call bob through Hotline;
// bob answers. It returns alice's consultation and bob's incoming call.
func consultBob(t *testing.T, alice, bob *phone, number string) (*outCall, *incoming) {
	t.Helper()
	alice.authPass = agentPassword("alice")
	consult := alice.call(number, alice.sdp(sdp.SendRecv, audio.PCMU()))
	in := bob.nextInvite()
	in.ring()
	consult.waitStatus(180)
	in.answer()
	ans := consult.answered()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
	flows(t, alice, ans.Audio.Addr, bob)
	flows(t, bob, in.remoteRTP(), alice)
	return consult, in
}

// replacesOf is the Refer-To of an attended transfer completing consult:
// Hotline's Contact with Replaces naming the dialog as alice's phone sees
// it (to-tag Hotline's, from-tag alice's), escaped.
func replacesOf(consult *outCall) string {
	to, _ := consult.dlg.InviteResponse.To().Params.Get("tag")
	from, _ := consult.dlg.InviteRequest.From().Params.Get("tag")
	rep := url.QueryEscape(consult.id + ";to-tag=" + to + ";from-tag=" + from)
	c := consult.dlg.InviteResponse.Contact().Address
	return "<sip:" + c.User + "@" + c.Host + ":" + strconv.Itoa(c.Port) + "?Replaces=" + rep + ">"
}

// TestAttendedTransfer: alice holds her caller (who hears the hold music,
// not silence), calls bob through Hotline, talks to him, then sends REFER
// with Replaces naming that consultation: Hotline answers 202, reports
// 100 and 200 by NOTIFY, hangs up both of alice's legs and bridges the
// caller to bob's leg (no new INVITE to bob). One call, one record
// listing alice then bob and the attended transfer.
func TestAttendedTransfer(t *testing.T) {
	for _, tc := range []struct{ name, number string }{{"to an agent", "bob"}, {"to a queue", "2001"}} {
		t.Run(tc.name, func(t *testing.T) {
			f, m := attendedFixture(t)
			caller, alice, call, in := aliceTakesACall(t, f)
			bob := newPhone(t, "bob", f.addr)
			bob.register("bob")

			hold(t, in, sdp.SendOnly)
			hearsSound(t, caller, 10)
			consult, bobIn := consultBob(t, alice, bob, tc.number)
			if got, want := reqHeader(bobIn.req, "X-Hotline-Call-ID"), reqHeader(in.req, "X-Hotline-Call-ID"); got != want {
				t.Errorf("bob's INVITE shows call %q, want the held call %q", got, want)
			}
			if got := reqHeader(bobIn.req, "X-Hotline-Transferred-By"); got != "alice" {
				t.Errorf("bob's INVITE X-Hotline-Transferred-By %q, want alice", got)
			}

			res := refer(t, in.dlg.Do, in.req.Contact().Address, replacesOf(consult))
			if res.StatusCode != 202 {
				t.Fatalf("REFER with Replaces: %d %s, want 202", res.StatusCode, res.Reason)
			}
			for _, want := range []string{"SIP/2.0 100 Trying", "SIP/2.0 200 OK"} {
				select {
				case got := <-alice.notifies:
					if !strings.HasPrefix(got, want) {
						t.Errorf("NOTIFY sipfrag %q, want %q", got, want)
					}
				case <-time.After(waitTimeout):
					t.Fatalf("no NOTIFY %q to alice", want)
				}
			}
			for what, done := range map[string]<-chan struct{}{"call": in.dlg.Context().Done(), "consultation": consult.dlg.Context().Done()} {
				select {
				case <-done:
				case <-time.After(waitTimeout):
					t.Fatalf("alice's %s leg was not hung up after the transfer", what)
				}
			}
			flows(t, caller, call.answered().Audio.Addr, bob)
			flows(t, bob, bobIn.remoteRTP(), caller)
			bob.noInvite()
			// bob is the call's agent now: his hold plays the caller the
			// hold music, his retrieve brings them back together.
			hold(t, bobIn, sdp.SendOnly)
			hearsSound(t, caller, 5)
			hold(t, bobIn, sdp.SendRecv)
			flows(t, bob, bobIn.remoteRTP(), caller)
			if n := f.srv.ActiveCalls(); n != 1 {
				t.Errorf("%d calls in progress after the transfer, want 1", n)
			}
			if got := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "kind", metrics.TransferAttended); got != 1 {
				t.Errorf("%v attended transfers counted, want 1", got)
			}
			if st := f.agentState("alice"); st == "on_call" || st == "ringing" {
				t.Errorf("alice is %s after transferring, want her free or in wrap-up", st)
			}
			call.bye()
			if err := bobIn.wait(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-bobIn.dlg.Context().Done(): // the caller's hang-up reached bob
			case <-time.After(waitTimeout):
				t.Fatal("bob's leg not hung up with the call")
			}
			r := f.record(reqHeader(in.req, "X-Hotline-Call-ID"))
			if r.Agent != "bob" || !slices.Equal(r.Agents, []string{"alice", "bob"}) {
				t.Errorf("record agent %q agents %v, want bob and [alice bob]", r.Agent, r.Agents)
			}
			if len(r.Transfers) != 1 || r.Transfers[0].Kind != metrics.TransferAttended || r.Transfers[0].By != "alice" ||
				r.Transfers[0].Target != "agent:bob" {
				t.Errorf("record transfers %+v, want one attended transfer by alice to agent:bob", r.Transfers)
			}
			if r.Outcome != callflow.OutcomeAnswered || r.Hold <= 0 {
				t.Errorf("record outcome %q hold %s, want answered with hold time", r.Outcome, r.Hold)
			}
		})
	}
}

// TestAttendedTransferConsultationHangup: alice hangs up the consultation
// instead of transferring: bob is hung up, the caller stays held (hold
// music) until alice retrieves them, and the call goes on with her.
func TestAttendedTransferConsultationHangup(t *testing.T) {
	f, _ := attendedFixture(t)
	caller, alice, call, in := aliceTakesACall(t, f)
	bob := newPhone(t, "bob", f.addr)
	bob.register("bob")
	hold(t, in, sdp.Inactive)
	consult, bobIn := consultBob(t, alice, bob, "bob")
	consult.bye()
	select {
	case <-bobIn.dlg.Context().Done():
	case <-time.After(waitTimeout):
		t.Fatal("bob was not hung up with the consultation")
	}
	hearsSound(t, caller, 10) // still held
	// A REFER naming the ended consultation: 481, the call goes on.
	if res := refer(t, in.dlg.Do, in.req.Contact().Address, replacesOf(consult)); res.StatusCode != 481 {
		t.Errorf("REFER naming the ended consultation: %d %s, want 481", res.StatusCode, res.Reason)
	}
	hold(t, in, sdp.SendRecv) // retrieve
	flows(t, caller, call.answered().Audio.Addr, alice)
	flows(t, alice, in.remoteRTP(), caller)
	if n := f.srv.ActiveCalls(); n != 1 {
		t.Errorf("%d calls in progress, want 1", n)
	}
	call.bye()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
	r := f.record(reqHeader(in.req, "X-Hotline-Call-ID"))
	if r.Agent != "alice" || len(r.Transfers) != 0 || r.Hold <= 0 {
		t.Errorf("record agent %q transfers %+v hold %s, want alice, none, a hold", r.Agent, r.Transfers, r.Hold)
	}
}

// TestConsultationRefusals: an internal call from an agent on no call is
// refused 403; so is calling oneself; a consultation of an agent who
// cannot take a call (not logged in) is refused 486; a REFER whose Replaces names a
// dialog that is not the agent's consultation gets 403 and the call goes on.
func TestConsultationRefusals(t *testing.T) {
	f, _ := attendedFixture(t)
	bob := newPhone(t, "bob", f.addr)
	bob.register("bob")
	bob.authPass = agentPassword("bob")
	res, _ := bob.call("alice", bob.sdp(sdp.SendRecv)).result()
	if res == nil || res.StatusCode != 403 || res.Reason != "No Call To Transfer" {
		t.Errorf("bob calls alice while on no call: %v, want 403 No Call To Transfer", res)
	}
	caller, alice, call, in := aliceTakesACall(t, f)
	alice.authPass = agentPassword("alice")
	res, _ = alice.call("alice", alice.sdp(sdp.SendRecv)).result()
	if res == nil || res.StatusCode != 403 || res.Reason != "Cannot Call Yourself" {
		t.Errorf("alice calls herself: %v, want 403 Cannot Call Yourself", res)
	}
	res, _ = alice.call("carol", alice.sdp(sdp.SendRecv)).result()
	if res == nil || res.StatusCode != 486 {
		t.Errorf("alice consults carol, who is not logged in: %v, want 486 Busy Here", res)
	}
	// Replaces naming the caller's own dialog (as Hotline sees it).
	f.srv.mu.Lock()
	id := ServerDialogID(f.srv.byID[call.id].caller.srv)
	f.srv.mu.Unlock()
	rep := url.QueryEscape(Replaces{CallID: id.CallID, ToTag: id.LocalTag, FromTag: id.RemoteTag}.String())
	if res := refer(t, in.dlg.Do, in.req.Contact().Address, "<sip:bob@127.0.0.1?Replaces="+rep+">"); res.StatusCode != 403 || res.Reason != "Not Your Consultation" {
		t.Errorf("REFER naming the caller's dialog: %d %s, want 403 Not Your Consultation", res.StatusCode, res.Reason)
	}
	flows(t, caller, call.answered().Audio.Addr, alice)
	call.bye()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
}

// TestBlindTransferWhileHeld: alice holds her caller (hold music), then
// blind-transfers to bob: the caller goes on to bob, and the record's
// hold is alice's hold only (it ended with her leg), not the rest of
// the call.
func TestBlindTransferWhileHeld(t *testing.T) {
	f, _ := attendedFixture(t)
	caller, _, call, in := aliceTakesACall(t, f)
	bob := newPhone(t, "bob", f.addr)
	bob.register("bob")
	hold(t, in, sdp.SendOnly)
	hearsSound(t, caller, 5)
	heldAt := time.Now()
	if res := refer(t, in.dlg.Do, in.req.Contact().Address, "<sip:bob@127.0.0.1>"); res.StatusCode != 202 {
		t.Fatalf("REFER: %d %s, want 202", res.StatusCode, res.Reason)
	}
	next := bob.nextInvite()
	next.answer()
	if err := next.wait(); err != nil {
		t.Fatal(err)
	}
	movedAt := time.Now()
	flows(t, caller, call.answered().Audio.Addr, bob)
	time.Sleep(1500 * time.Millisecond) // caller and bob talk: no hold
	call.bye()
	r := f.record(reqHeader(in.req, "X-Hotline-Call-ID"))
	if r.Hold <= 0 || r.Hold > movedAt.Sub(heldAt)+time.Second {
		t.Errorf("record hold %s, want alice's hold only (at most %s)", r.Hold, movedAt.Sub(heldAt)+time.Second)
	}
}

// TestConsultationCancelled: alice cancels her consultation while bob's
// phone rings: bob's ringing stops, bob is free again, and alice
// retrieves her caller.
func TestConsultationCancelled(t *testing.T) {
	f, _ := attendedFixture(t)
	caller, alice, call, in := aliceTakesACall(t, f)
	bob := newPhone(t, "bob", f.addr)
	bob.register("bob")
	hold(t, in, sdp.SendOnly)
	alice.authPass = agentPassword("alice")
	consult := alice.call("bob", alice.sdp(sdp.SendRecv, audio.PCMU()))
	bobIn := bob.nextInvite()
	bobIn.ring()
	consult.waitStatus(180)
	consult.cancel()
	if res, _ := consult.result(); res == nil || res.StatusCode != 487 {
		t.Errorf("cancelled consultation: final response %v, want 487", res)
	}
	if err := bobIn.wait(); err == nil {
		t.Error("bob's phone answered a consultation that was cancelled")
	}
	waitUntil(t, "bob free again", func() bool { return f.agentState("bob") == "available" })
	hold(t, in, sdp.SendRecv)
	flows(t, caller, call.answered().Audio.Addr, alice)
	call.bye()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond for up to waitTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !pollUntil(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// pollUntil polls cond for up to waitTimeout and says whether it held.
func pollUntil(cond func() bool) bool {
	for deadline := time.Now().Add(waitTimeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// TestAttendedTransferReferInConsultation: some phones complete the other
// way round: REFER in the consultation, Replaces naming the held call's
// dialog. Hotline carries it out the same way (NOTIFYs in the
// consultation); bob may not REFER in it, and a REFER in it must name
// the held call.
func TestAttendedTransferReferInConsultation(t *testing.T) {
	f, _ := attendedFixture(t)
	caller, alice, call, in := aliceTakesACall(t, f)
	bob := newPhone(t, "bob", f.addr)
	bob.register("bob")
	hold(t, in, sdp.SendOnly)
	consult, bobIn := consultBob(t, alice, bob, "bob")
	f.srv.mu.Lock()
	main := f.srv.byID[call.id]
	f.srv.mu.Unlock()
	id := main.legOf(RoleAgent).DialogID() // the held call's agent leg, as Hotline sees it
	referTo := "<sip:5551234@127.0.0.1?Replaces=" + url.QueryEscape(Replaces{CallID: id.CallID, ToTag: id.LocalTag, FromTag: id.RemoteTag}.String()) + ">"
	contact := consult.dlg.InviteResponse.Contact().Address

	if res := refer(t, bobIn.dlg.Do, bobIn.req.Contact().Address, referTo); res.StatusCode != 403 {
		t.Errorf("REFER from bob in the consultation: %d %s, want 403", res.StatusCode, res.Reason)
	}
	if res := refer(t, consult.dlg.Do, contact, "<sip:bob@127.0.0.1>"); res.StatusCode != 403 || res.Reason != "Replaces Required" {
		t.Errorf("blind REFER in the consultation: %d %s, want 403 Replaces Required", res.StatusCode, res.Reason)
	}
	if res := refer(t, consult.dlg.Do, contact, referTo); res.StatusCode != 202 {
		t.Fatalf("REFER in the consultation: %d %s, want 202", res.StatusCode, res.Reason)
	}
	for _, want := range []string{"SIP/2.0 100 Trying", "SIP/2.0 200 OK"} {
		select {
		case got := <-alice.notifies:
			if !strings.HasPrefix(got, want) {
				t.Errorf("NOTIFY sipfrag %q, want %q", got, want)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("no NOTIFY %q to alice", want)
		}
	}
	for _, done := range []<-chan struct{}{in.dlg.Context().Done(), consult.dlg.Context().Done()} {
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Fatal("alice's legs were not hung up after the transfer")
		}
	}
	flows(t, caller, call.answered().Audio.Addr, bob)
	flows(t, bob, bobIn.remoteRTP(), caller)
	call.bye()
	r := f.record(reqHeader(in.req, "X-Hotline-Call-ID"))
	if len(r.Transfers) != 1 || r.Transfers[0].Kind != metrics.TransferAttended || r.Agent != "bob" {
		t.Errorf("record agent %q transfers %+v, want bob after one attended transfer", r.Agent, r.Transfers)
	}
}

// earlyReplaces is the Refer-To of a semi-attended transfer: Replaces
// naming consult while it still rings, as alice's phone sees the early
// dialog (to-tag Hotline's, from its 180; from-tag alice's).
func earlyReplaces(consult *outCall) string {
	to, _ := consult.dlg.InviteResponse.To().Params.Get("tag")
	from, _ := consult.dlg.InviteRequest.From().Params.Get("tag")
	return "<sip:bob@127.0.0.1?Replaces=" + url.QueryEscape(consult.id+";to-tag="+to+";from-tag="+from) + ">"
}

// semiAttendedStart has alice hold her caller, call bob through Hotline
// and, while bob's phone rings, complete with REFER + Replaces naming
// the ringing consultation: 202, NOTIFYs 100 and 200, and alice's leg of
// the call is hung up at once; then her phone cancels the consultation
// (as phones do), which does not stop bob's ringing.
func semiAttendedStart(t *testing.T, f *fixture) (caller *phone, call *outCall, in, bobIn *incoming, bob *phone) {
	t.Helper()
	caller, alice, call, in := aliceTakesACall(t, f)
	bob = newPhone(t, "bob", f.addr)
	bob.register("bob")
	hold(t, in, sdp.SendOnly)
	alice.authPass = agentPassword("alice")
	consult := alice.call("bob", alice.sdp(sdp.SendRecv, audio.PCMU()))
	bobIn = bob.nextInvite()
	bobIn.ring()
	consult.waitStatus(180)
	if res := refer(t, in.dlg.Do, in.req.Contact().Address, earlyReplaces(consult)); res.StatusCode != 202 {
		t.Fatalf("REFER with Replaces naming the ringing consultation: %d %s, want 202", res.StatusCode, res.Reason)
	}
	for _, want := range []string{"SIP/2.0 100 Trying", "SIP/2.0 200 OK"} {
		select {
		case got := <-alice.notifies:
			if !strings.HasPrefix(got, want) {
				t.Errorf("NOTIFY sipfrag %q, want %q", got, want)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("no NOTIFY %q to alice", want)
		}
	}
	select {
	case <-in.dlg.Context().Done():
	case <-time.After(waitTimeout):
		t.Fatal("alice's leg of the call was not hung up after the semi-attended transfer")
	}
	consult.cancel()
	if res, _ := consult.result(); res == nil || res.StatusCode != 487 {
		t.Errorf("alice's consultation after the transfer: %v, want 487", res)
	}
	return caller, call, in, bobIn, bob
}

// TestSemiAttendedTransfer: alice completes while bob's phone still
// rings (semi-attended, as Asterisk and FreeSWITCH users do): she is off
// the call at once, the caller hears ringing (sound, not silence), bob
// answers the same INVITE (no new one) and is bridged with the caller.
// One call, whose record lists alice then bob and the attended transfer.
func TestSemiAttendedTransfer(t *testing.T) {
	f, m := attendedFixture(t)
	caller, call, in, bobIn, bob := semiAttendedStart(t, f)
	hearsSound(t, caller, 5) // ringback while bob rings
	bobIn.answer()
	if err := bobIn.wait(); err != nil {
		t.Fatal(err)
	}
	flows(t, caller, call.answered().Audio.Addr, bob)
	flows(t, bob, bobIn.remoteRTP(), caller)
	bob.noInvite()
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "kind", metrics.TransferSemiAttended); got != 1 {
		t.Errorf("%v semi-attended transfers counted, want 1", got)
	}
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "kind", metrics.TransferAttended); got != 0 {
		t.Errorf("%v attended transfers counted, want 0 (the transfer was semi-attended)", got)
	}
	call.bye()
	select {
	case <-bobIn.dlg.Context().Done():
	case <-time.After(waitTimeout):
		t.Fatal("bob's leg not hung up with the call")
	}
	r := f.record(reqHeader(in.req, "X-Hotline-Call-ID"))
	if r.Agent != "bob" || !slices.Equal(r.Agents, []string{"alice", "bob"}) {
		t.Errorf("record agent %q agents %v, want bob and [alice bob]", r.Agent, r.Agents)
	}
	if len(r.Transfers) != 1 || r.Transfers[0].Kind != metrics.TransferSemiAttended || r.Transfers[0].By != "alice" ||
		r.Transfers[0].Target != "agent:bob" {
		t.Errorf("record transfers %+v, want one semi_attended transfer by alice to agent:bob", r.Transfers)
	}
}

// TestSemiAttendedTransferNoAnswer: bob refuses the ringing consultation
// after alice completed: the caller is not dropped but goes back to the
// general queue first in line, and carol, logging in, gets the same call.
func TestSemiAttendedTransferNoAnswer(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	f := newFixture(t, func(o *fixtureOpts) {
		o.routing.Queues = []config.QueueDef{{Name: "general", WrapUp: 30 * time.Second}, {Name: "complaints", TransferNumber: "2001"}}
		o.routing.Rules = []config.RuleConfig{{Name: "default", Queue: "general"}}
		o.routing.Agents[0].Queues = []string{"general"}    // alice
		o.routing.Agents[1].Queues = []string{"complaints"} // bob
		o.routing.Agents[2].Queues = []string{"general"}    // carol
		o.deps = func(d *Deps) { d.Metrics, d.CallMetrics = m, callmetrics.New(m) }
	})
	caller, call, in, bobIn, _ := semiAttendedStart(t, f)
	bobIn.reject(486)
	_ = bobIn.wait()         // the 486 sent
	hearsSound(t, caller, 5) // waiting again: hold music
	carol := newPhone(t, "carol", f.addr)
	carol.register("carol")
	next := carol.nextInvite()
	if got, want := reqHeader(next.req, "X-Hotline-Call-ID"), reqHeader(in.req, "X-Hotline-Call-ID"); got != want {
		t.Errorf("carol got call %q, want the transferred call %q back", got, want)
	}
	next.answer()
	if err := next.wait(); err != nil {
		t.Fatal(err)
	}
	flows(t, caller, call.answered().Audio.Addr, carol)
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "outcome", metrics.TransferReturned); got != 1 {
		t.Errorf("%v returned transfers counted, want 1", got)
	}
	call.bye()
	if err := next.wait(); err != nil {
		t.Fatal(err)
	}
	r := f.record(reqHeader(in.req, "X-Hotline-Call-ID"))
	if r.Agent != "carol" || len(r.Transfers) != 1 || r.Transfers[0].Kind != metrics.TransferSemiAttended || r.Reason != "transfer" {
		t.Errorf("record agent %q transfers %+v reason %q, want carol, alice's semi_attended transfer, reason transfer", r.Agent, r.Transfers, r.Reason)
	}
}
