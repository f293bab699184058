package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotline/internal/e2e"
	"hotline/recording"
)

// hangUpAfter makes a baresip agent hang up d after each call it takes.
func hangUpAfter(ctx context.Context, b *e2e.Baresip, d time.Duration) {
	go func() {
		if _, err := b.WaitEvent(ctx, e2e.EventCallEstablished); err != nil {
			return
		}
		select {
		case <-time.After(d):
			_ = b.Hangup(ctx)
		case <-ctx.Done():
		}
	}()
}

// callRecords reads the call records stored by the file backend.
func callRecords(t *testing.T, dir string) []recording.CallRecord {
	t.Helper()
	var out []recording.CallRecord
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		var r recording.CallRecord
		if json.Unmarshal(raw, &r) == nil {
			out = append(out, r)
		}
		return nil
	})
	return out
}

// TestE2ESurveyAfterAgentHangsUp: the agent hangs up first; the caller
// hears the survey, rates the call 4 (CSAT) and 10 (NPS, two keys) by
// keypad, hears the thanks and is hung up on; the answers are in the
// call record stored beside the recording.
func TestE2ESurveyAfterAgentHangsUp(t *testing.T) {
	skipShort(t)
	a := startApp(t, func(c *Config) { c.Survey.NPS = true })
	agent := startAgent(t, a, "alice", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hangUpAfter(ctx, agent, 2*time.Second)

	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:  a.sipAddr("udp"),
		Service: "1900",
		Scenario: e2e.UACKeypad(tonePCAP(t, time.Second), 4*time.Second,
			[]string{e2e.DTMFPCAP("4"), e2e.DTMFPCAP("1"), e2e.DTMFPCAP("0")},
			2*time.Second, 30*time.Second),
		Timeout: 50 * time.Second,
	})
	res.RequireCalls(t, 1, 0) // includes Hotline's BYE after the thanks
	waitIdle(t, a)

	var recs []recording.CallRecord
	waitFor(t, 10*time.Second, "the call record in storage", func() bool {
		recs = callRecords(t, a.cfg.Recording.File.Dir)
		return len(recs) == 1
	})
	r := recs[0]
	if r.CSAT == nil || *r.CSAT != 4 {
		t.Errorf("call record CSAT %v, want 4", r.CSAT)
	}
	if r.Extra["nps"] != "10" {
		t.Errorf("call record NPS %q, want 10", r.Extra["nps"])
	}
	if !strings.Contains(a.logs.String(), "outcome=answered") {
		t.Errorf("no CDR with outcome=answered in the log")
	}
}

// TestE2ESurveyCallerHangsUp: a caller who hangs up during the survey is
// no response, not a score.
func TestE2ESurveyCallerHangsUp(t *testing.T) {
	skipShort(t)
	a := startApp(t, nil)
	agent := startAgent(t, a, "bob", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	hangUpAfter(ctx, agent, time.Second)
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Scenario: e2e.UACPlayPCAP(tonePCAP(t, time.Second), 3*time.Second),
	})
	res.RequireCalls(t, 1, 0)
	waitIdle(t, a)
	var recs []recording.CallRecord
	waitFor(t, 10*time.Second, "the call record in storage", func() bool {
		recs = callRecords(t, a.cfg.Recording.File.Dir)
		return len(recs) == 1
	})
	if recs[0].CSAT != nil {
		t.Errorf("caller who hung up has CSAT %d, want no response", *recs[0].CSAT)
	}
	if !strings.Contains(a.logs.String(), "csat=none") {
		t.Errorf("CDR does not say csat=none")
	}
}

// TestE2EKnownCustomerLowRating: a caller found in the customer directory
// (segment at_risk, Vietnamese) hears the survey in Vietnamese, rates the
// call 1, and a follow-up callback is scheduled for them; the recording
// carries their segment.
func TestE2EKnownCustomerLowRating(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	customers := filepath.Join(dir, "customers.yaml")
	if err := os.WriteFile(customers, []byte(`customers:
  - id: C42
    name: Nguyen Van A
    number: "0912000111"
    segment: at_risk
    style: reactive
    language: vi
`), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, func(c *Config) {
		c.Directory.File = customers
		// The example's default quiet hours: the follow-up is due at
		// 08:00 UTC the next day (the dialer is off: no gateway).
		c.Callbacks.QuietHours = []string{"21:00-08:00"}
	})
	agent := startAgent(t, a, "carol", e2e.BaresipOptions{ToneHz: agentHz, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hangUpAfter(ctx, agent, 2*time.Second)
	before := time.Now() // the call ends on this UTC day or the next
	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
		Target:   a.sipAddr("udp"),
		Service:  "1900",
		Caller:   "+84912000111",
		Scenario: e2e.UACKeypad(tonePCAP(t, time.Second), 4*time.Second, []string{e2e.DTMFPCAP("1")}, time.Second, 30*time.Second),
		Timeout:  50 * time.Second,
	})
	res.RequireCalls(t, 1, 0)
	waitIdle(t, a)

	if !strings.Contains(a.logs.String(), "msg=survey") || !strings.Contains(a.logs.String(), "language=vi") {
		t.Error("the survey was not played in the customer's language (vi)")
	}
	var cbs []struct {
		Number     string `json:"number"`
		CustomerID string `json:"customer_id"`
		Kind       string `json:"kind"`
		Reason     string `json:"reason"`
		Due        time.Time
	}
	if code := httpJSON(t, "GET", a.apiURL("/api/v1/callbacks"), "", &cbs); code != 200 {
		t.Fatalf("GET /api/v1/callbacks: %d", code)
	}
	if len(cbs) != 1 || cbs[0].Number != "+84912000111" || cbs[0].CustomerID != "C42" || !strings.Contains(cbs[0].Reason, "low rating 1") {
		t.Fatalf("callbacks %+v, want one follow-up for C42 after the rating of 1", cbs)
	}
	// The next business day (no schedule: every day), after the quiet
	// hours: 08:00 UTC the day after the call ended.
	nextMorning := func(at time.Time) time.Time {
		y, m, d := at.UTC().Date()
		return time.Date(y, m, d+1, 8, 0, 0, 0, time.UTC)
	}
	if due := cbs[0].Due; !due.Equal(nextMorning(before)) && !due.Equal(nextMorning(time.Now())) {
		t.Errorf("follow-up due %s, want 08:00 UTC the day after the call (%s)", due, nextMorning(before))
	}
	// The customer's history now has this call.
	waitFor(t, 5*time.Second, "the call in the customer's history", func() bool {
		c := a.directory.Lookup(ctx, "0912000111")
		return c.History.Calls == 1 && c.History.LastCSAT == 1 && c.LastAgent == "carol"
	})
	var recs []recording.CallRecord
	waitFor(t, 10*time.Second, "the call record in storage", func() bool {
		recs = callRecords(t, a.cfg.Recording.File.Dir)
		return len(recs) == 1
	})
	if recs[0].Segment != "at_risk" || recs[0].CSAT == nil || *recs[0].CSAT != 1 {
		t.Errorf("call record %+v, want segment at_risk and CSAT 1", recs[0])
	}
}
