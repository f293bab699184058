package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"hotline/callflow"
	"hotline/callflow/callmetrics"
	"hotline/internal/promtest"
	"hotline/metrics"
	"hotline/routing/config"
	"hotline/sip/sdp"
)

// TestOutsideResultOf: how the INVITE through the gateway ended (as sip
// classifies it for callflow.OutsideOutcome) decides
// what the referrer is told, how the transfer is counted and whether the
// caller goes back to their queue.
func TestOutsideResultOf(t *testing.T) {
	for _, tc := range []struct {
		what      string
		err       error
		callEnded bool
		want      callflow.OutsideResult
	}{
		{"answered", nil, false, callflow.OutsideResult{Code: 200, Reason: "OK", Outcome: metrics.TransferCompleted, Back: false}},
		{"busy", &refusedError{code: 486, reason: "Busy Here"}, false, callflow.OutsideResult{Code: 486, Reason: "Busy Here", Outcome: metrics.TransferReturned, Back: true}},
		{"declined", &refusedError{code: 603, reason: "Decline"}, false, callflow.OutsideResult{Code: 603, Reason: "Decline", Outcome: metrics.TransferReturned, Back: true}},
		{"gateway failure", &refusedError{code: 503}, false, callflow.OutsideResult{Code: 503, Reason: "Failed", Outcome: metrics.TransferReturned, Back: true}},
		{"redirect not followed", &refusedError{code: 302, reason: "Moved Temporarily"}, false, callflow.OutsideResult{Code: 503, Reason: "Service Unavailable", Outcome: metrics.TransferReturned, Back: true}},
		{"no answer", errNoAnswer, false, callflow.OutsideResult{Code: 480, Reason: "Temporarily Unavailable", Outcome: metrics.TransferReturned, Back: true}},
		{"unusable answer", fmt.Errorf("outside party's answer: %w", errNoUsableSDP), false, callflow.OutsideResult{Code: 488, Reason: "Not Acceptable Here", Outcome: metrics.TransferReturned, Back: true}},
		{"no response", errors.New("transaction timeout"), false, callflow.OutsideResult{Code: 503, Reason: "Service Unavailable", Outcome: metrics.TransferReturned, Back: true}},
		{"caller hung up while it rang", callflow.ErrCallerHangup, true, callflow.OutsideResult{Code: 487, Reason: "Request Terminated", Outcome: metrics.TransferAbandoned, Back: false}},
		{"caller hung up as it answered", nil, true, callflow.OutsideResult{Code: 487, Reason: "Request Terminated", Outcome: metrics.TransferAbandoned, Back: false}},
	} {
		if got := callflow.OutsideOutcome(outsideDial(tc.err), tc.callEnded); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.what, got, tc.want)
		}
	}
}

// outsideFixture is Hotline whose outbound gateway is a test phone (it
// takes the INVITEs to outside numbers), allowed to call +84 numbers
// (ring timeout 2 s); alice and carol take the general queue (30 s
// wrap-up), bob complaints.
func outsideFixture(t *testing.T) (*fixture, *metrics.Metrics, *phone) {
	gw := newPhone(t, "gateway", netip.AddrPort{})
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	f := newFixture(t, func(o *fixtureOpts) {
		o.routing.Queues = []config.QueueDef{{Name: "general", WrapUp: 30 * time.Second}, {Name: "complaints", TransferNumber: "2001"}}
		o.routing.Rules = []config.RuleConfig{{Name: "default", Queue: "general"}}
		o.routing.Agents[0].Queues = []string{"general"}    // alice
		o.routing.Agents[1].Queues = []string{"complaints"} // bob
		o.routing.Agents[2].Queues = []string{"general"}    // carol
		o.cfg.Outbound = Outbound{Gateway: gw.addr.String(), From: "1900", AllowedPrefixes: []string{"+84"},
			RingTimeout: 2 * time.Second}
		o.deps = func(d *Deps) { d.Metrics, d.CallMetrics = m, callmetrics.New(m) }
	})
	return f, m, gw
}

// nextNotify is the sipfrag of the next NOTIFY the phone received.
func nextNotify(t *testing.T, p *phone) string {
	t.Helper()
	select {
	case got := <-p.notifies:
		return got
	case <-time.After(waitTimeout):
		t.Fatalf("no NOTIFY to %s", p.user)
		return ""
	}
}

func wantNotify(t *testing.T, p *phone, status string) {
	t.Helper()
	if got := nextNotify(t, p); !strings.HasPrefix(got, "SIP/2.0 "+status) {
		t.Errorf("NOTIFY sipfrag %q, want %s", got, status)
	}
}

// hungUp waits until a dialog's context ends.
func hungUp(t *testing.T, who string, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(waitTimeout):
		t.Fatalf("%s was not hung up", who)
	}
}

// TestBlindTransferToOutsideNumber: alice REFERs her caller to an allowed
// outside number: Hotline answers 202, calls the number through the
// gateway (Request-URI sip:<number>@<gateway>, From the configured
// number, a Call-ID of its own), tells alice 100, 180 and 200 by NOTIFY,
// hangs her leg up, and bridges the caller with the outside party
// through its own media. When the outside party hangs up the caller gets
// the BYE; the one record lists alice, the transfer and the outside leg.
func TestBlindTransferToOutsideNumber(t *testing.T) {
	f, m, gw := outsideFixture(t)
	caller, alice, call, in := aliceTakesACall(t, f)
	id := reqHeader(in.req, "X-Hotline-Call-ID")

	if res := refer(t, in.dlg.Do, in.req.Contact().Address, "<sip:+84901234567@127.0.0.1>"); res.StatusCode != 202 {
		t.Fatalf("REFER to +84901234567: %d %s, want 202", res.StatusCode, res.Reason)
	}
	wantNotify(t, alice, "100")
	out := gw.nextInvite()
	if u := out.req.Recipient; u.User != "+84901234567" || u.Host != "127.0.0.1" || u.Port != int(gw.addr.Port()) {
		t.Errorf("gateway's INVITE Request-URI %s, want sip:+84901234567@%s", u.String(), gw.addr)
	}
	if from := out.req.From().Address.User; from != "1900" {
		t.Errorf("gateway's INVITE From %q, want the configured 1900", from)
	}
	if out.callID() == id || out.callID() == in.callID() {
		t.Errorf("gateway's INVITE reuses Call-ID %q: the outside leg needs its own", out.callID())
	}
	out.ring()
	wantNotify(t, alice, "180")
	out.answer()
	if err := out.wait(); err != nil {
		t.Fatal(err)
	}
	wantNotify(t, alice, "200")
	hungUp(t, "alice's leg", in.dlg.Context())

	flows(t, caller, call.answered().Audio.Addr, gw)
	flows(t, gw, out.remoteRTP(), caller)
	if n := f.srv.ActiveCalls(); n != 1 {
		t.Errorf("%d calls in progress after the transfer, want 1", n)
	}
	if calls := f.srv.Calls(); len(calls) != 1 || calls[0].CallID != call.id || calls[0].Agent != "" {
		t.Errorf("calls in progress %+v, want the one call, no agent on it", calls)
	}
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "target", metrics.TransferToNumber); got != 1 {
		t.Errorf("%v transfers to a number counted, want 1", got)
	}
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "outcome", metrics.TransferCompleted); got != 1 {
		t.Errorf("%v completed transfers counted, want 1", got)
	}

	out.bye() // the outside party hangs up
	hungUp(t, "the caller", call.dlg.Context())
	r := f.record(call.id)
	if r.Outside != "+84901234567" || !slices.Equal(r.Agents, []string{"alice"}) || r.Agent != "alice" {
		t.Errorf("record outside %q agents %v agent %q, want +84901234567 after [alice]", r.Outside, r.Agents, r.Agent)
	}
	if len(r.Transfers) != 1 || r.Transfers[0].Kind != metrics.TransferBlind || r.Transfers[0].By != "alice" ||
		r.Transfers[0].Target != "number:+84901234567" {
		t.Errorf("record transfers %+v, want one blind transfer by alice to number:+84901234567", r.Transfers)
	}
	if r.Cause != callflow.ErrOutsideHangup.Error() || r.Outcome != callflow.OutcomeAnswered || r.Reason != "transfer" {
		t.Errorf("record cause %q outcome %q reason %q, want outside party hung up, answered, transfer", r.Cause, r.Outcome, r.Reason)
	}
}

// TestBlindTransferToOutsideBusyGoesBackFirst: the outside number is busy
// (486): alice's NOTIFY says so, her leg is hung up all the same, and
// the caller goes back to the general queue ahead of a caller who waited
// there before: carol, logging in, gets them first. Nothing is dropped.
func TestBlindTransferToOutsideBusyGoesBackFirst(t *testing.T) {
	f, m, gw := outsideFixture(t)
	caller, alice, call, in := aliceTakesACall(t, f)
	other := newPhone(t, "5559999", f.addr)
	waiting := other.call("1900", other.sdp(sdp.SendRecv))
	waiting.answered()

	if res := refer(t, in.dlg.Do, in.req.Contact().Address, "<sip:+84901234567@127.0.0.1>"); res.StatusCode != 202 {
		t.Fatalf("REFER to +84901234567: %d %s, want 202", res.StatusCode, res.Reason)
	}
	wantNotify(t, alice, "100")
	gw.nextInvite().reject(486)
	wantNotify(t, alice, "486")
	hungUp(t, "alice's leg", in.dlg.Context())
	carol := newPhone(t, "carol", f.addr)
	carol.register("carol")
	next := carol.nextInvite()
	if got, want := reqHeader(next.req, "X-Hotline-Call-ID"), reqHeader(in.req, "X-Hotline-Call-ID"); got != want {
		t.Fatalf("carol was offered call %q first, want the transferred call %q back first in line", got, want)
	}
	if got := reqHeader(next.req, "X-Hotline-Transferred-By"); got != "alice" {
		t.Errorf("carol's INVITE X-Hotline-Transferred-By %q, want alice", got)
	}
	next.answer()
	if err := next.wait(); err != nil {
		t.Fatal(err)
	}
	flows(t, caller, call.answered().Audio.Addr, carol)
	flows(t, carol, next.remoteRTP(), caller)
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "outcome", metrics.TransferReturned); got != 1 {
		t.Errorf("%v returned transfers counted, want 1", got)
	}
	call.bye()
	waiting.bye()
	r := f.record(call.id)
	if r.Outside != "" || !slices.Equal(r.Agents, []string{"alice", "carol"}) || len(r.Transfers) != 1 ||
		r.Transfers[0].Target != "number:+84901234567" {
		t.Errorf("record outside %q agents %v transfers %+v, want no outside leg, [alice carol], the one transfer",
			r.Outside, r.Agents, r.Transfers)
	}
}

// TestOutsideTransferCallerHangsUpWhileItRings: the caller hangs up while
// the outside number rings: the INVITE is cancelled, alice hears 487 and
// is hung up, the transfer counts as abandoned and nothing is left over
// (the fixture checks every RTP port is free).
func TestOutsideTransferCallerHangsUpWhileItRings(t *testing.T) {
	f, m, gw := outsideFixture(t)
	_, alice, call, in := aliceTakesACall(t, f)
	if res := refer(t, in.dlg.Do, in.req.Contact().Address, "<sip:+84901234567@127.0.0.1>"); res.StatusCode != 202 {
		t.Fatalf("REFER: %d %s, want 202", res.StatusCode, res.Reason)
	}
	wantNotify(t, alice, "100")
	out := gw.nextInvite()
	out.ring()
	wantNotify(t, alice, "180")
	call.bye()
	hungUp(t, "the outside party's INVITE", out.dlg.Context())
	wantNotify(t, alice, "487")
	hungUp(t, "alice's leg", in.dlg.Context())
	r := f.record(call.id)
	if r.Cause != callflow.ErrCallerHangup.Error() || r.Outside != "" {
		t.Errorf("record cause %q outside %q, want the caller's hang-up and no outside leg", r.Cause, r.Outside)
	}
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "outcome", metrics.TransferAbandoned); got != 1 {
		t.Errorf("%v abandoned transfers counted, want 1", got)
	}
}

// TestTransferThroughAPIToOutsideNumber: POST /api/v1/calls/{id}/transfer
// {"to":"number:+84..."} (Server.Transfer) calls the number like a REFER:
// alice's leg is hung up, the caller talks with the outside party, the
// record has the api transfer; a number outside the allowed prefixes is
// refused and changes nothing.
func TestTransferThroughAPIToOutsideNumber(t *testing.T) {
	f, m, gw := outsideFixture(t)
	caller, alice, call, in := aliceTakesACall(t, f)
	id := reqHeader(in.req, "X-Hotline-Call-ID")
	var refusal *Refusal
	if err := f.srv.Transfer(id, "alice", "alice", "number:+1900555000"); !errors.Is(err, ErrTransferTarget) ||
		!errors.As(err, &refusal) || refusal.Code != 403 {
		t.Errorf("transfer to a number not allowed: %v, want a 403 refusal", err)
	}
	flows(t, caller, call.answered().Audio.Addr, alice)
	if err := f.srv.Transfer(id, "alice", "alice", "number:+84901234567"); err != nil {
		t.Fatalf("alice transfers her call to +84901234567: %v", err)
	}
	out := gw.nextInvite()
	if u := out.req.Recipient; u.User != "+84901234567" {
		t.Errorf("gateway's INVITE Request-URI %s, want +84901234567", u.String())
	}
	out.answer()
	if err := out.wait(); err != nil {
		t.Fatal(err)
	}
	hungUp(t, "alice's leg", in.dlg.Context())
	flows(t, caller, call.answered().Audio.Addr, gw)
	flows(t, gw, out.remoteRTP(), caller)
	call.bye()
	hungUp(t, "the outside party", out.dlg.Context())
	r := f.record(id)
	if r.Outside != "+84901234567" || len(r.Transfers) != 1 || r.Transfers[0].Kind != metrics.TransferAPI {
		t.Errorf("record outside %q transfers %+v, want +84901234567 and one api transfer", r.Outside, r.Transfers)
	}
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "outcome", metrics.TransferCompleted); got != 1 {
		t.Errorf("%v completed transfers counted, want 1", got)
	}
}
