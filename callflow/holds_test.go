package callflow_test

import (
	"slices"
	"testing"
	"time"

	"hotline/callflow"
)

// TestHolds: each leg's hold counts from its first hold to its resume
// (repeated re-INVITEs in the same state change nothing); a hold still
// on is open, and the record's hold time counts overlapping holds once.
func TestHolds(t *testing.T) {
	var h callflow.Holds[string]
	if h.Periods() != nil {
		t.Fatal("a new call has holds")
	}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	h.Note("agent", false, at(5)) // resumed without a hold: nothing
	h.Note("agent", true, at(10))
	h.Note("agent", true, at(12)) // still on hold: the hold started at 10
	h.Note("caller", true, at(15))
	h.Note("agent", false, at(20))
	want := []callflow.Period{{Start: at(10), End: at(20)}, {Start: at(15)}}
	if got := h.Periods(); !slices.Equal(got, want) {
		t.Fatalf("periods %v, want %v", got, want)
	}
	r := callflow.Build(callflow.Timeline{Arrived: t0, Bridged: at(0), Holds: h.Periods()}, at(60), callflow.ErrCallerHangup)
	if r.Hold != 50*time.Second || r.Talk != 10*time.Second {
		t.Errorf("hold %v talk %v, want 50s held (10s to the end, overlaps once) and 10s of talk", r.Hold, r.Talk)
	}
}
