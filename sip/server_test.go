package sip

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/audio"
	"hotline/callflow"
	"hotline/sip/sdp"
)

// header returns the value of a response header, "" if absent.
func header(res *sip.Response, name string) string {
	if h := res.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

func TestRejectsBadCalls(t *testing.T) {
	f := newFixture(t)
	caller := newPhone(t, "5551234", f.addr)
	g729 := audio.Codec{PT: 18, Name: "G729", Rate: 8000}
	savp := strings.Replace(string(caller.sdp(sdp.SendRecv)), "RTP/AVP", "RTP/SAVP", 1)

	cases := []struct {
		name   string
		number string
		body   []byte
		mod    func(*sip.Request)
		want   int
	}{
		{"unknown number", "1234", caller.sdp(sdp.SendRecv), nil, 404},
		{"only G729", "1900", caller.sdp(sdp.SendRecv, g729), nil, 488},
		{"garbage SDP", "1900", []byte("this is not a session description\r\n"), nil, 400},
		{"no SDP", "1900", nil, nil, 488},
		{"SRTP only", "1900", []byte(savp), nil, 488},
		{"not SDP", "1900", []byte("hello"), func(r *sip.Request) {
			r.ReplaceHeader(sip.NewHeader("Content-Type", "text/plain"))
		}, 488},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := caller.request(sip.INVITE, tc.number, tc.body, tc.mod)
			if res.StatusCode != tc.want {
				t.Errorf("got %d %s, want %d", res.StatusCode, res.Reason, tc.want)
			}
		})
	}
	if got := f.srv.ActiveCalls(); got != 0 {
		t.Errorf("ActiveCalls = %d after rejected calls, want 0", got)
	}
	if got := f.srv.Ports().InUse(); got != 0 {
		t.Errorf("RTP ports in use = %d after rejected calls, want 0", got)
	}
}

func TestOptionsAndStrayRequests(t *testing.T) {
	f := newFixture(t)
	p := newPhone(t, "5551234", f.addr)

	res := p.request(sip.OPTIONS, "1900", nil, nil)
	if res.StatusCode != 200 {
		t.Fatalf("OPTIONS: got %d %s, want 200", res.StatusCode, res.Reason)
	}
	allow := header(res, "Allow")
	for _, m := range []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER"} {
		if !strings.Contains(allow, m) {
			t.Errorf("Allow %q lacks %s", allow, m)
		}
	}

	res = p.request(sip.BYE, "1900", nil, func(r *sip.Request) {
		r.ReplaceHeader(sip.NewHeader("Call-ID", "no-such-call@test"))
	})
	if res.StatusCode != 481 {
		t.Errorf("BYE for an unknown Call-ID: got %d %s, want 481", res.StatusCode, res.Reason)
	}
	res = p.request(sip.INVITE, "1900", p.sdp(sdp.SendRecv), func(r *sip.Request) {
		r.To().Params.Add("tag", "no-such-dialog")
	})
	if res.StatusCode != 481 {
		t.Errorf("re-INVITE for an unknown dialog: got %d %s, want 481", res.StatusCode, res.Reason)
	}
	res = p.request(sip.MESSAGE, "1900", nil, nil)
	if res.StatusCode != 405 || header(res, "Allow") == "" {
		t.Errorf("MESSAGE: got %d %s Allow %q, want 405 with Allow", res.StatusCode, res.Reason, header(res, "Allow"))
	}
}

func TestMaxCallsRejectsWithRetryAfter(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) { o.cfg.MaxCalls = 1 })
	first := newPhone(t, "5551111", f.addr)
	call := first.call("1900", first.sdp(sdp.SendRecv))
	call.answered() // queued: the one call Hotline may have

	second := newPhone(t, "5552222", f.addr)
	res := second.request(sip.INVITE, "1900", second.sdp(sdp.SendRecv), nil)
	if res.StatusCode != 503 || header(res, "Retry-After") != "7" {
		t.Errorf("call beyond max_calls: got %d %s Retry-After %q, want 503 with Retry-After 7",
			res.StatusCode, res.Reason, header(res, "Retry-After"))
	}
	if got := f.srv.ActiveCalls(); got != 1 {
		t.Errorf("ActiveCalls = %d, want 1", got)
	}

	call.bye()
	f.checkIdle()
	// The rejected call did not use up the allowance.
	again := second.call("1900", second.sdp(sdp.SendRecv))
	again.answered()
	again.bye()
}

func TestShutdownDrainsThenHangsUp(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) { o.cfg.DrainTimeout = 2 * time.Second })
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)
	call, in := connectCall(t, caller, agent)

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- f.srv.Shutdown(ctx)
	}()

	// While draining, Hotline refuses new work but keeps the call.
	late := newPhone(t, "5559999", f.addr)
	deadline := time.Now().Add(waitTimeout)
	for late.request(sip.OPTIONS, "1900", nil, nil).StatusCode != 503 {
		if time.Now().After(deadline) {
			t.Fatal("OPTIONS never got 503 during the drain")
		}
		time.Sleep(5 * time.Millisecond)
	}
	res := late.request(sip.INVITE, "1900", late.sdp(sdp.SendRecv), nil)
	if res.StatusCode != 503 || header(res, "Retry-After") != "7" {
		t.Errorf("INVITE during the drain: got %d %s Retry-After %q, want 503 with Retry-After 7",
			res.StatusCode, res.Reason, header(res, "Retry-After"))
	}
	if n := len(caller.requests(sip.BYE, "")) + len(agent.requests(sip.BYE, "")); n != 0 {
		t.Errorf("%d BYEs before the drain timeout, want the call to go on", n)
	}

	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	// Shutdown returned after hanging the call up on both sides.
	if len(caller.requests(sip.BYE, call.id)) == 0 {
		t.Error("caller got no BYE at shutdown")
	}
	if len(agent.requests(sip.BYE, in.callID())) == 0 {
		t.Error("agent got no BYE at shutdown")
	}
	if f.srv.ActiveCalls() != 0 || f.srv.Ports().InUse() != 0 {
		t.Errorf("after Shutdown: ActiveCalls = %d, RTP ports in use = %d", f.srv.ActiveCalls(), f.srv.Ports().InUse())
	}
	wantRecord(t, f, call.id, callflow.OutcomeAnswered, callflow.ErrShutdown, "alice")
}
