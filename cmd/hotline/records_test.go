package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"hotline/callflow"
	"hotline/records"
	"hotline/routing/acd"
	"hotline/routing/directory"
	"hotline/survey"
)

// The ACD's event kinds are the history's: queueEvent copies them.
func TestQueueEventKindsAreHistoryKinds(t *testing.T) {
	for a, r := range map[string]string{
		acd.EventEnteredQueue: records.EventEnteredQueue, acd.EventOffered: records.EventOffered,
		acd.EventRingNoAnswer: records.EventRingNoAnswer, acd.EventConnected: records.EventConnected,
		acd.EventAbandoned: records.EventAbandoned, acd.EventCallbackRequest: records.EventCallbackRequest,
		acd.EventWrapUp: records.EventWrapUp, acd.EventLogin: records.EventLogin, acd.EventLogout: records.EventLogout,
		acd.EventPause: records.EventPause, acd.EventUnpause: records.EventUnpause,
	} {
		if a != r {
			t.Errorf("acd kind %q, records kind %q", a, r)
		}
	}
}

// Routing sees the segment the history's rules set, from the next call
// on: two low ratings make the caller at_risk for the next lookup; a
// caller without an override keeps the directory's segment.
func TestSegmentedLookup(t *testing.T) {
	ctx := context.Background()
	dir, err := directory.New(directory.Config{}, directory.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rc := records.Config{SpoolDir: t.TempDir(), StateDir: t.TempDir()}
	rc.SetDefaults()
	rc.File.Dir = t.TempDir()
	store, err := records.Open(ctx, rc, records.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rules := []records.SegmentRule{{Name: "unhappy", Segment: "at_risk", Count: 2, CSATAtMost: 2, Within: 720 * time.Hour}}
	seg, err := records.NewSegmenter(ctx, store, rules, nil)
	if err != nil {
		t.Fatal(err)
	}
	lookup := segmentedLookup(dir, seg)
	number := dir.Lookup(ctx, "+84912000111").Number
	base := lookup(ctx, "+84912000111").Segment
	one := 1
	for i := range 2 {
		at := time.Now().Add(time.Duration(i-2) * time.Hour)
		c := records.Call{CallID: fmt.Sprintf("lk-%d", i), Customer: number, Segment: lookup(ctx, number).Segment, Arrived: at, Ended: at.Add(time.Minute), Outcome: "answered", CSAT: &one}
		store.Call(c)
		if err := store.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		seg.After(c, false)
	}
	seg.Close()
	if got := lookup(ctx, "+84912000111").Segment; got != "at_risk" || base == "at_risk" {
		t.Fatalf("segment after two low ratings: %q (directory's: %q)", got, base)
	}
	if got := lookup(ctx, "+84912000222").Segment; got != base {
		t.Fatalf("another caller: %q, want the directory's %q", got, base)
	}
}

// The history's record of a surveyed call: wait from the queue entry,
// time to answer from the INVITE, talk until the agent left less the
// hold, the hold, the queue's name, and where the survey starts.
func TestCallRecordTimes(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	csat := 4
	r := callflow.Build(callflow.Timeline{CallID: "c1", Queue: "general", Agent: "alice", Arrived: at(0), Queued: at(8),
		Bridged: at(20), AgentLeft: at(80), Survey: survey.Result{Ran: true, CSAT: &csat},
		Holds: []callflow.Period{{Start: at(30), End: at(45)}}}, at(90), callflow.ErrCallerHangup)
	c := callRecord(r)
	if c.Queue != "general" || c.Wait != 12 || c.Answer != 20 || c.Talk != 45 || c.Hold != 15 || c.SurveyStart == nil || !c.SurveyStart.Equal(at(80)) ||
		c.CSAT == nil || *c.CSAT != 4 {
		t.Fatalf("record %+v (survey start %v)", c, c.SurveyStart)
	}
}

// A transferred call's history row lists its agents in order and its
// transfers; the agent it names is the last (credited with the CSAT).
func TestCallRecordTransfers(t *testing.T) {
	at := time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)
	c := callRecord(callflow.Record{CallID: "c1", Agent: "bob", Agents: []string{"alice", "bob"},
		Transfers: []callflow.Transfer{{Kind: "blind", At: at, By: "alice", Target: "agent:bob"}}})
	if c.Agent != "bob" {
		t.Errorf("agent %q, want bob", c.Agent)
	}
	if got, want := string(c.Legs), `[{"role":"agent","agent":"alice"},{"role":"agent","agent":"bob"}]`; got != want {
		t.Errorf("legs %s, want %s", got, want)
	}
	if got, want := string(c.Transfers), `[{"kind":"blind","at":"2026-12-02T17:00:00Z","by":"alice","target":"agent:bob"}]`; got != want {
		t.Errorf("transfers %s, want %s", got, want)
	}
	out := callRecord(callflow.Record{CallID: "c3", Agent: "alice", Agents: []string{"alice"}, Outside: "+84901234567",
		Transfers: []callflow.Transfer{{Kind: "api", At: at, By: "sue", Target: "number:+84901234567"}}})
	if got, want := string(out.Legs), `[{"role":"agent","agent":"alice"},{"role":"outside","number":"+84901234567"}]`; got != want {
		t.Errorf("legs of a call transferred outside %s, want %s", got, want)
	}
	if got, want := string(out.Transfers), `[{"kind":"api","at":"2026-12-02T17:00:00Z","by":"sue","target":"number:+84901234567"}]`; got != want {
		t.Errorf("transfers %s, want %s", got, want)
	}
	if plain := callRecord(callflow.Record{CallID: "c2"}); plain.Legs != nil || plain.Transfers != nil {
		t.Errorf("a call without agents or transfers: legs %s transfers %s, want none", plain.Legs, plain.Transfers)
	}
}

// A monitored call's history row lists each supervisor's session: who,
// which agent, how they joined, start, end and the modes in order.
func TestCallRecordMonitors(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 12, 2, 17, 0, s, 0, time.UTC) }
	c := callRecord(callflow.Record{CallID: "c1", Agent: "alice", Agents: []string{"alice"}, Monitors: []callflow.Monitoring{{
		Supervisor: "sue", Agent: "alice", Via: callflow.MonitorViaCode, Start: at(1), End: at(9),
		Modes: []callflow.ModeChange{{Mode: "listen", At: at(1)}, {Mode: "whisper", At: at(4)}}}}})
	want := `[{"supervisor":"sue","agent":"alice","via":"code","start":"2026-12-02T17:00:01Z","end":"2026-12-02T17:00:09Z",` +
		`"modes":[{"mode":"listen","at":"2026-12-02T17:00:01Z"},{"mode":"whisper","at":"2026-12-02T17:00:04Z"}]}]`
	if got := string(c.Monitors); got != want {
		t.Errorf("monitors %s, want %s", got, want)
	}
	if plain := callRecord(callflow.Record{CallID: "c2"}); plain.Monitors != nil {
		t.Errorf("an unmonitored call: monitors %s, want none", plain.Monitors)
	}
}
