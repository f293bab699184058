package records_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"hotline/records"
)

var careRules = []records.SegmentRule{
	{Name: "unhappy", Segment: "at_risk", Count: 2, CSATAtMost: 2, Within: 30 * 24 * time.Hour, OpenComplaint: true},
	{Name: "fan", Segment: "loyal", Count: 5, CSATAtLeast: 4, Within: 90 * 24 * time.Hour},
}

// The care loop: two low ratings within 30 days make a customer at_risk
// (an event names the rule), five good ones within 90 days loyal; an
// open complaint makes them at_risk at once; when no rule holds any more
// the directory's segment is back. The overrides survive a restart.
func TestSegmentRules(t *testing.T) {
	if err := (&records.Config{SegmentRules: []records.SegmentRule{{Name: "x", Segment: "y"}}}).Validate(); err == nil {
		t.Fatal("a rule without a condition was accepted")
	}
	c := fileConfig(t)
	c.SegmentRules = careRules
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s := open(t, c)
	ctx := context.Background()
	g, err := records.NewSegmenter(ctx, s, careRules, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC)
	n := 0
	call := func(number string, at time.Time, csat int, complaint bool) {
		t.Helper()
		n++
		segment := "standard"
		if o, ok := g.Segment(number); ok {
			segment = o.Segment // as routing saw it
		}
		cl := records.Call{CallID: fmt.Sprintf("seg-%d", n), Customer: number, Segment: segment, Arrived: at, Ended: at.Add(5 * time.Minute),
			Outcome: "answered", Agent: "alice"}
		if csat > 0 {
			cl.CSAT = &csat
		}
		s.Call(cl)
		flush(t, s)
		g.After(cl, complaint)
		g.Close() // wait for the rules, then go on with a new worker
		if g, err = records.NewSegmenter(ctx, s, careRules, testLog(t)); err != nil {
			t.Fatal(err)
		}
	}
	seg := func(number string) string {
		if o, ok := g.Segment(number); ok {
			return o.Segment + "/" + o.Rule
		}
		return "base"
	}
	const ann, bob, cat = "+84901", "+84902", "+84903"
	call(ann, day, 2, false)
	if got := seg(ann); got != "base" {
		t.Fatalf("one low rating: %s", got)
	}
	call(ann, day.Add(10*24*time.Hour), 1, false)
	if got := seg(ann); got != "at_risk/unhappy" {
		t.Fatalf("two low ratings within 30 days: %s", got)
	}
	// 40 days later only one of them is within 30 days, and she is happy.
	call(ann, day.Add(40*24*time.Hour), 5, false)
	if got := seg(ann); got != "base" {
		t.Fatalf("after the window: %s", got)
	}
	for i := range 5 {
		call(bob, day.Add(time.Duration(i)*7*24*time.Hour), 4+i%2, false)
	}
	if got := seg(bob); got != "loyal/fan" {
		t.Fatalf("five good ratings: %s", got)
	}
	call(cat, day, 0, true)
	if got := seg(cat); got != "at_risk/unhappy" {
		t.Fatalf("open complaint: %s", got)
	}
	// Segment changes are events of the customer's history.
	flush(t, s)
	p, err := s.Events(ctx, records.EventQuery{Customer: ann, Kind: records.EventSegmentChanged})
	if err != nil || len(p.Events) != 2 {
		t.Fatalf("ann's segment changes: %+v %v", p.Events, err)
	}
	var d map[string]string
	if err := json.Unmarshal(p.Events[1].Detail, &d); err != nil || p.Events[1].Reason != "unhappy" || d["from"] != "standard" || d["to"] != "at_risk" {
		t.Fatalf("first change: %+v %s", p.Events[1], p.Events[1].Detail)
	}
	if err := json.Unmarshal(p.Events[0].Detail, &d); err != nil || p.Events[0].Reason != "" || d["to"] != "standard" {
		t.Fatalf("back to base: %+v %s", p.Events[0], p.Events[0].Detail)
	}
	g.Close()
	// After a restart (a new store and segmenter on the same directories).
	_ = s.Close()
	s2 := open(t, c)
	g2, err := records.NewSegmenter(ctx, s2, careRules, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	if o, ok := g2.Segment(bob); !ok || o.Segment != "loyal" {
		t.Fatalf("bob after a restart: %+v %v", o, ok)
	}
}
