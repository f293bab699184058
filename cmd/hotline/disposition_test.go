package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"hotline/api"
	"hotline/internal/e2e"
	"hotline/routing/config"
)

// TestE2EDisposition: after a real call, alice gives it a wrap-up code
// through the API, then another from her phone's keypad (*25<key>): each
// goes to that call (its id), is logged with it and counted; unknown
// codes and keys, and agents without a finished call, are refused.
func TestE2EDisposition(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) {
		c.Dispositions = []config.Disposition{{Code: "sale", Name: "Sale", Key: "1"}, {Code: "complaint_logged", Name: "Complaint logged", Key: "2"}}
		off := false
		c.Survey.Enabled = &off
		if err := c.Config.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	var codes []api.DispositionCode
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/dispositions"), "", &codes); code != 200 || len(codes) != 2 || codes[0].Code != "sale" {
		t.Fatalf("GET /api/v1/dispositions: %d %+v", code, codes)
	}
	var e struct{ Code string }
	if code := httpJSON(t, "POST", a.apiURL("/api/v1/agents/alice/disposition"), `{"code":"sale"}`, &e); code != 409 || e.Code != "no_last_call" {
		t.Errorf("before any call: %d %+v, want 409 no_last_call", code, e)
	}
	alice := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	caller := e2e.StartSIPp(t, e2e.SIPpOptions{Target: a.sipAddr("udp"), Service: "1900",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, 2*time.Second), 3*time.Second)})
	if _, err := alice.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
		t.Fatal(err)
	}
	var live []api.Call
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/calls"), "", &live); code != 200 || len(live) != 1 {
		t.Fatalf("GET /api/v1/calls: %d %+v", code, live)
	}
	res, err := caller.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res.RequireCalls(t, 1, 0)
	waitIdle(t, a)

	if code := httpJSON(t, "POST", a.apiURL("/api/v1/agents/alice/disposition"), `{"code":"upsell"}`, &e); code != 400 || e.Code != "unknown_disposition" {
		t.Errorf("unknown code: %d %+v, want 400 unknown_disposition", code, e)
	}
	var d api.Disposition
	if code := httpJSON(t, "POST", a.apiURL("/api/v1/agents/alice/disposition"), `{"code":"sale"}`, &d); code != 200 ||
		d.CallID != live[0].CallID || d.Code != "sale" || d.Agent != "alice" {
		t.Fatalf("disposition: %d %+v, want sale for call %s", code, d, live[0].CallID)
	}
	if !strings.Contains(a.logs.String(), `msg="call disposition" call_id=`+live[0].CallID) {
		t.Error("the disposition is not logged with the call's id")
	}
	if got := a.metric(t, "hotline_dispositions_total", map[string]string{"code": "sale"}); got != 1 {
		t.Errorf("hotline_dispositions_total{code=sale} %v, want 1", got)
	}
	if code := httpJSON(t, "POST", a.apiURL("/api/v1/agents/zoe/disposition"), `{"code":"sale"}`, &e); code != 404 || e.Code != "unknown_agent" {
		t.Errorf("unknown agent: %d %+v", code, e)
	}

	// On the phone's keypad: alice dials *252 (key 2: complaint_logged)
	// after the call; the beeps confirm and the code is counted.
	if err := alice.Dial(ctx, "sip:*252@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.WaitEvent(ctx, e2e.EventCallClosed); err != nil {
		t.Fatalf("*252: the feature-code call did not end: %v", err)
	}
	waitFor(t, 5*time.Second, "the keypad disposition", func() bool {
		return a.metric(t, "hotline_dispositions_total", map[string]string{"code": "complaint_logged"}) == 1
	})
	if !strings.Contains(a.logs.String(), `msg="call disposition" call_id=`+live[0].CallID+` agent=alice queue=`) ||
		!strings.Contains(a.logs.String(), `code=complaint_logged`) {
		t.Error("the keypad disposition is not logged with the call's id")
	}
	// A key no code has: refused (403), nothing counted.
	if err := alice.Dial(ctx, "sip:*259@"+a.sipAddr("udp")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "*259 refused", func() bool {
		return strings.Contains(a.logs.String(), `msg="feature code refused" agent=alice code=*259`)
	})
	if got := a.metric(t, "hotline_dispositions_total", nil); got != 2 {
		t.Errorf("hotline_dispositions_total %v, want 2", got)
	}
}
