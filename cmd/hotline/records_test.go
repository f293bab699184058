package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"hotline/records"
	"hotline/routing/acd"
	"hotline/routing/directory"
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
