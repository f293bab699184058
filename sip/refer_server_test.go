package sip

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
	"hotline/callflow/callmetrics"
	"hotline/internal/promtest"
	"hotline/metrics"
	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/sip/sdp"
)

// transferFixture is Hotline with a complaints queue on transfer number
// 2001, an outbound gateway allowed to call +84 numbers, and metrics.
func transferFixture(t *testing.T) (*fixture, *metrics.Metrics) {
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	f := newFixture(t, func(o *fixtureOpts) {
		o.routing.Queues = []config.QueueDef{{Name: "general"}, {Name: "complaints", TransferNumber: "2001"}}
		o.routing.Rules = []config.RuleConfig{{Name: "default", Queue: "general"}}
		o.cfg.Outbound = Outbound{Gateway: "127.0.0.1:9", From: "1900", AllowedPrefixes: []string{"+84"}}
		o.deps = func(d *Deps) { d.Metrics, d.CallMetrics = m, callmetrics.New(m) }
	})
	return f, m
}

// aliceTakesACall registers alice's phone and bridges a caller's call
// with her.
func aliceTakesACall(t *testing.T, f *fixture) (caller, agent *phone, call *outCall, in *incoming) {
	t.Helper()
	agent = newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller = newPhone(t, "5551234", f.addr)
	call, in = connectCall(t, caller, agent)
	return caller, agent, call, in
}

// refer sends a REFER with Refer-To referTo in a dialog (do is its Do) to
// the peer's contact and returns the final response.
func refer(t *testing.T, do func(context.Context, *sip.Request) (*sip.Response, error), contact sip.Uri, referTo string) *sip.Response {
	t.Helper()
	req := sip.NewRequest(sip.REFER, *contact.Clone())
	req.AppendHeader(sip.NewHeader("Refer-To", referTo))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := do(ctx, req)
	if err != nil {
		t.Fatalf("REFER %s: %v", referTo, err)
	}
	return res
}

// TestReferRefusals: REFERs Hotline cannot act on get a clear status and
// change nothing: after each, caller and agent still hear each other.
func TestReferRefusals(t *testing.T) {
	f, m := transferFixture(t)
	caller, agent, call, in := aliceTakesACall(t, f)
	hotline := in.req.Contact().Address

	for _, tc := range []struct {
		what    string
		referTo string
		code    int
		reason  string
	}{
		{"unknown number", "<sip:2999@127.0.0.1>", 404, "Unknown Transfer Target"},
		{"unknown agent", "<sip:dave@127.0.0.1>", 404, "Unknown Transfer Target"},
		{"queue by name, not its number", "<sip:complaints@127.0.0.1>", 404, "Unknown Transfer Target"},
		{"prefix not allowed", "<sip:+1900555000@127.0.0.1>", 403, "Number Not Allowed"},
		{"not a SIP URI", "<http://127.0.0.1/x>", 416, "Unsupported URI Scheme"},
		{"Replaces naming no dialog", "<sip:bob@127.0.0.1?Replaces=gone%40h%3Bto-tag%3Da%3Bfrom-tag%3Db>", 481, "Call/Transaction Does Not Exist"},
	} {
		res := refer(t, in.dlg.Do, hotline, tc.referTo)
		if res.StatusCode != tc.code || res.Reason != tc.reason {
			t.Errorf("%s: %d %s, want %d %s", tc.what, res.StatusCode, res.Reason, tc.code, tc.reason)
		}
	}
	// The caller's side may not transfer.
	res := refer(t, call.dlg.Do, call.dlg.InviteResponse.Contact().Address, "<sip:bob@127.0.0.1>")
	if res.StatusCode != 403 || res.Reason != "Only Agents Transfer" {
		t.Errorf("REFER from the caller: %d %s, want 403 Only Agents Transfer", res.StatusCode, res.Reason)
	}
	// Nothing changed: audio still flows both ways, the call is the same.
	flows(t, caller, call.answered().Audio.Addr, agent)
	flows(t, agent, in.remoteRTP(), caller)
	if n := f.srv.ActiveCalls(); n != 1 {
		t.Errorf("%d calls in progress after the refused REFERs, want 1", n)
	}
	if refused := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "outcome", metrics.TransferRefused); refused != 7 {
		t.Errorf("%v refused transfers counted, want 7", refused)
	}
	call.bye()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
}

// TestReferOutsideADialog: a REFER naming no call gets 481.
func TestReferOutsideADialog(t *testing.T) {
	f, _ := transferFixture(t)
	p := newPhone(t, "alice", f.addr)
	res := p.request(sip.REFER, "1900", nil, func(r *sip.Request) {
		r.AppendHeader(sip.NewHeader("Refer-To", "<sip:bob@127.0.0.1>"))
	})
	if res.StatusCode != 481 {
		t.Errorf("REFER outside a dialog: %d %s, want 481", res.StatusCode, res.Reason)
	}
}

// TestReferReplacesNotAConsultation: a REFER whose Replaces names a
// dialog in progress that is not the agent's answered consultation (here
// the agent's own call) is refused 403 Not Your Consultation, and the
// call goes on.
func TestReferReplacesNotAConsultation(t *testing.T) {
	f, _ := transferFixture(t)
	caller, agent, call, in := aliceTakesACall(t, f)
	// alice's own dialog with Hotline, as Hotline sees it: Hotline's tag
	// is the From tag of its INVITE, alice's the To tag of her answer.
	r := Replaces{CallID: in.callID(), ToTag: fromTag(in.req.From()), FromTag: toTag(in.dlg.InviteRequest.To())}
	to := "<sip:bob@127.0.0.1?Replaces=" + url.QueryEscape(r.String()) + ">"
	res := refer(t, in.dlg.Do, in.req.Contact().Address, to)
	if res.StatusCode != 403 || res.Reason != "Not Your Consultation" {
		t.Errorf("REFER to %s: %d %s, want 403 Not Your Consultation", to, res.StatusCode, res.Reason)
	}
	flows(t, caller, call.answered().Audio.Addr, agent)
	call.bye()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
}

// TestBlindTransferToQueue: alice transfers her caller to the complaints
// queue's transfer number: Hotline answers 202, reports 100 then 200 by
// NOTIFY, hangs up alice's leg, and bob (complaints) rings with the
// call's reason "transfer" and then hears the caller: one call, counted
// as a completed blind transfer to a queue.
func TestBlindTransferToQueue(t *testing.T) {
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	f := newFixture(t, func(o *fixtureOpts) {
		o.routing.Queues = []config.QueueDef{{Name: "general"}, {Name: "complaints", TransferNumber: "2001"}}
		o.routing.Rules = []config.RuleConfig{{Name: "default", Queue: "general"}}
		o.routing.Agents[0].Queues = []string{"general"}    // alice
		o.routing.Agents[1].Queues = []string{"complaints"} // bob
		o.routing.Agents[2].Queues = []string{"general"}    // carol (not registered)
		o.deps = func(d *Deps) { d.Metrics, d.CallMetrics = m, callmetrics.New(m) }
	})
	caller, alice, call, in := aliceTakesACall(t, f)
	bob := newPhone(t, "bob", f.addr)
	bob.register("bob")

	res := refer(t, in.dlg.Do, in.req.Contact().Address, "<sip:2001@127.0.0.1>")
	if res.StatusCode != 202 {
		t.Fatalf("REFER to the complaints queue: %d %s, want 202", res.StatusCode, res.Reason)
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
	case <-in.dlg.Context().Done(): // alice's leg was hung up
	case <-time.After(waitTimeout):
		t.Fatal("alice's leg was not hung up after the transfer")
	}
	next := bob.nextInvite()
	if got := reqHeader(next.req, "X-Hotline-Reason"); got != "transfer" {
		t.Errorf("bob's INVITE X-Hotline-Reason %q, want transfer", got)
	}
	if got := reqHeader(next.req, "X-Hotline-Queue"); got != "complaints" {
		t.Errorf("bob's INVITE X-Hotline-Queue %q, want complaints", got)
	}
	if got, want := reqHeader(next.req, "X-Hotline-Call-ID"), reqHeader(in.req, "X-Hotline-Call-ID"); got != want {
		t.Errorf("bob's INVITE is for call %q, alice's was %q: the call id must stay", got, want)
	}
	next.answer()
	if err := next.wait(); err != nil {
		t.Fatal(err)
	}
	flows(t, caller, call.answered().Audio.Addr, bob)
	flows(t, bob, next.remoteRTP(), caller)
	if n := f.srv.ActiveCalls(); n != 1 {
		t.Errorf("%d calls in progress after the transfer, want 1", n)
	}
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "outcome", metrics.TransferCompleted); got != 1 {
		t.Errorf("%v completed transfers counted, want 1", got)
	}
	call.bye()
	// One call, one record: both agents in order, bob last, the transfer.
	r := f.record(reqHeader(in.req, "X-Hotline-Call-ID"))
	if r.Agent != "bob" || !slices.Equal(r.Agents, []string{"alice", "bob"}) {
		t.Errorf("record agent %q agents %v, want bob and [alice bob]", r.Agent, r.Agents)
	}
	if len(r.Transfers) != 1 || r.Transfers[0].By != "alice" || r.Transfers[0].Target != "queue:complaints" ||
		r.Transfers[0].Kind != metrics.TransferBlind || r.Transfers[0].At.IsZero() {
		t.Errorf("record transfers %+v, want one blind transfer by alice to queue:complaints", r.Transfers)
	}
	if r.Reason != "transfer" || r.Outcome != callflow.OutcomeAnswered {
		t.Errorf("record reason %q outcome %q, want transfer, answered", r.Reason, r.Outcome)
	}
}

// reqHeader returns the value of a request header, "" if absent.
func reqHeader(req *sip.Request, name string) string {
	if h := req.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// agentTransferFixture: alice and carol take the general queue (30 s
// wrap-up: an agent who transferred takes no new call meanwhile), bob
// only complaints.
func agentTransferFixture(t *testing.T) (*fixture, *metrics.Metrics) {
	m := metrics.New(metrics.Options{NoRuntimeMetrics: true})
	f := newFixture(t, func(o *fixtureOpts) {
		o.routing.Queues = []config.QueueDef{{Name: "general", WrapUp: 30 * time.Second}, {Name: "complaints", TransferNumber: "2001"}}
		o.routing.Rules = []config.RuleConfig{{Name: "default", Queue: "general"}}
		o.routing.Agents[0].Queues = []string{"general"}    // alice
		o.routing.Agents[1].Queues = []string{"complaints"} // bob
		o.routing.Agents[2].Queues = []string{"general"}    // carol
		o.cfg.Outbound = Outbound{Gateway: "127.0.0.1:9", From: "1900", AllowedPrefixes: []string{"+84"}}
		o.deps = func(d *Deps) { d.Metrics, d.CallMetrics = m, callmetrics.New(m) }
	})
	return f, m
}

// TestBlindTransferToAgent: alice REFERs her caller to bob: bob's phone
// rings showing alice transferred the call, answers, and hears the caller.
func TestBlindTransferToAgent(t *testing.T) {
	f, m := agentTransferFixture(t)
	caller, alice, call, in := aliceTakesACall(t, f)
	bob := newPhone(t, "bob", f.addr)
	bob.register("bob")

	if res := refer(t, in.dlg.Do, in.req.Contact().Address, "<sip:bob@127.0.0.1>"); res.StatusCode != 202 {
		t.Fatalf("REFER to bob: %d %s, want 202", res.StatusCode, res.Reason)
	}
	next := bob.nextInvite()
	if got := reqHeader(next.req, "X-Hotline-Transferred-By"); got != "alice" {
		t.Errorf("bob's INVITE X-Hotline-Transferred-By %q, want alice", got)
	}
	next.answer()
	if err := next.wait(); err != nil {
		t.Fatal(err)
	}
	flows(t, caller, call.answered().Audio.Addr, bob)
	flows(t, bob, next.remoteRTP(), caller)
	select {
	case <-in.dlg.Context().Done():
	case <-time.After(waitTimeout):
		t.Fatal("alice's leg was not hung up after the transfer")
	}
	if got := <-alice.notifies; !strings.HasPrefix(got, "SIP/2.0 100 ") {
		t.Errorf("first NOTIFY %q, want 100 Trying", got)
	}
	call.bye()
	r := f.record(reqHeader(in.req, "X-Hotline-Call-ID"))
	if !slices.Equal(r.Agents, []string{"alice", "bob"}) || len(r.Transfers) != 1 || r.Transfers[0].Target != "agent:bob" {
		t.Errorf("record agents %v transfers %+v, want [alice bob] and one transfer to agent:bob", r.Agents, r.Transfers)
	}
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "outcome", metrics.TransferCompleted); got != 1 {
		t.Errorf("%v completed transfers counted, want 1 (bob answered)", got)
	}
}

// TestBlindTransferToAgentRefusedGoesBackFirst: bob refuses the
// transferred call; the caller goes back to the general queue ahead of
// a caller who waited there before: carol, logging in, gets them first.
func TestBlindTransferToAgentRefusedGoesBackFirst(t *testing.T) {
	f, m := agentTransferFixture(t)
	caller, _, call, in := aliceTakesACall(t, f)
	bob := newPhone(t, "bob", f.addr)
	bob.register("bob")
	// Another caller waits in general (alice is busy, carol away).
	other := newPhone(t, "5559999", f.addr)
	waiting := other.call("1900", other.sdp(sdp.SendRecv))
	waiting.answered()

	if res := refer(t, in.dlg.Do, in.req.Contact().Address, "<sip:bob@127.0.0.1>"); res.StatusCode != 202 {
		t.Fatalf("REFER to bob: %d %s, want 202", res.StatusCode, res.Reason)
	}
	bob.nextInvite().reject(486)
	// Carol registers only once Hotline has handled bob's refusal: the
	// transfer counted as returned (after the caller was put back) and
	// the caller waiting in general, ahead of the other caller. Before,
	// the call still waits for bob alone and carol would get the other.
	id := reqHeader(in.req, "X-Hotline-Call-ID")
	waitUntil(t, "bob's refusal counted as a returned transfer", func() bool {
		return promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "outcome", metrics.TransferReturned) >= 1
	})
	waitQueued(t, f, id, "general", 0)
	carol := newPhone(t, "carol", f.addr)
	carol.register("carol")
	next := carol.nextInvite()
	if got, want := reqHeader(next.req, "X-Hotline-Call-ID"), id; got != want {
		t.Fatalf("carol was offered call %q first, want the transferred call %q back first in line", got, want)
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
	carol.waitRequest(sip.BYE, next.callID()) // before her phone goes away with the test
	waiting.bye()
}

// waitQueued waits until routing shows call id waiting in queue with
// position calls ahead of it.
func waitQueued(t *testing.T, f *fixture, id, queue string, position int) {
	t.Helper()
	var got []acd.CallStatus
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		got = f.acd.Calls()
		for _, c := range got {
			if c.ID == id && c.State == "waiting" && c.Queue == queue && c.Position == position {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("call %s not waiting in %s at position %d within %s; calls %+v", id, queue, position, waitTimeout, got)
}

// TestTransferThroughAPI: Server.Transfer (POST /api/v1/calls/{id}/
// transfer) refuses a bad or unknown target, an unknown call, another
// agent's call and outside numbers, and moves the caller like a REFER:
// alice's leg is hung up, bob (complaints) gets the caller.
func TestTransferThroughAPI(t *testing.T) {
	f, m := agentTransferFixture(t)
	caller, alice, call, in := aliceTakesACall(t, f)
	bob := newPhone(t, "bob", f.addr)
	bob.register("bob")
	id := reqHeader(in.req, "X-Hotline-Call-ID")
	for _, tc := range []struct {
		what, call, agent, to string
		want                  error
	}{
		{"bad form", id, "", "bob", ErrBadTransferTarget},
		{"unknown queue", id, "", "queue:nope", ErrTransferTarget},
		{"unknown call", "nope", "", "queue:complaints", ErrNoSuchCall},
		{"another agent's call", id, "carol", "queue:complaints", ErrNotYourCall},
		{"number not allowed", id, "", "number:+1900555000", ErrTransferTarget},
	} {
		if err := f.srv.Transfer(tc.call, "sup", tc.agent, tc.to); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.what, err, tc.want)
		}
	}
	flows(t, caller, call.answered().Audio.Addr, alice) // the refusals moved nothing
	if err := f.srv.Transfer(id, "alice", "alice", "queue:complaints"); err != nil {
		t.Fatalf("alice transfers her own call: %v", err)
	}
	select {
	case <-in.dlg.Context().Done():
	case <-time.After(waitTimeout):
		t.Fatal("alice's leg was not hung up after the API transfer")
	}
	next := bob.nextInvite()
	next.answer()
	if err := next.wait(); err != nil {
		t.Fatal(err)
	}
	flows(t, caller, call.answered().Audio.Addr, bob)
	flows(t, bob, next.remoteRTP(), caller)
	call.bye()
	r := f.record(id)
	if len(r.Transfers) != 1 || r.Transfers[0].Kind != metrics.TransferAPI || r.Transfers[0].By != "alice" {
		t.Errorf("record transfers %+v, want one api transfer by alice", r.Transfers)
	}
	if got := promtest.CounterSum(t, m.Registry(), metrics.NameTransfers, "kind", metrics.TransferAPI); got != 4 {
		t.Errorf("%v api transfers counted, want 3 refused (unknown queue, another agent's call, number not allowed) + 1 completed", got)
	}
}
