package records_test

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
	"time"

	"hotline/internal/pgtest"
	"hotline/records"
)

// allCalls pages through q with the given page size.
func allCalls(t *testing.T, s *records.Store, q records.CallQuery, page int) []records.Call {
	t.Helper()
	var out []records.Call
	q.Limit = page
	for n := 0; ; n++ {
		p, err := s.Calls(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Calls...)
		if p.Next == "" {
			return out
		}
		if q.After, err = records.DecodeCursor(p.Next); err != nil {
			t.Fatal(err)
		}
		if n > 10000 {
			t.Fatal("paging does not end")
		}
	}
}

// The same records give the same answers from both backends: filters,
// newest-first order, cursor paging without gaps or repeats.
func TestHistoryBothBackends(t *testing.T) {
	srv := pgtest.Start(t)
	const n = 400 // ~4.7 days
	for name, c := range map[string]records.Config{"file": fileConfig(t), "postgres": pgConfig(t, srv, "history")} {
		t.Run(name, func(t *testing.T) {
			s := open(t, c)
			load(s, 0, n)
			flush(t, s)
			want := map[string]records.Call{}
			for i := 0; i < n; i++ {
				c, _ := sample(i)
				want[c.CallID] = c
			}
			cases := []struct {
				query string
				keep  func(records.Call) bool
			}{
				{"", func(records.Call) bool { return true }},
				{"agent=bob", func(c records.Call) bool { return c.Agent == "bob" }},
				{"queue=vip&outcome=answered", func(c records.Call) bool { return c.Queue == "vip" && c.Outcome == "answered" }},
				{"csat_max=2&agent=alice", func(c records.Call) bool { return c.Agent == "alice" && c.CSAT != nil && *c.CSAT <= 2 }},
				{"customer=%2B84900000003&segment=at_risk", func(c records.Call) bool { return c.Customer == "+84900000003" && c.Segment == "at_risk" }},
				{"from=2026-11-30&to=2026-12-01T12:00:00Z", func(c records.Call) bool {
					return !c.Arrived.Before(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) && c.Arrived.Before(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
				}},
				{"outcome=nothing", func(records.Call) bool { return false }},
			}
			for _, tc := range cases {
				v, _ := url.ParseQuery(tc.query)
				q, err := records.ParseCallQuery(v)
				if err != nil {
					t.Fatalf("%s: %v", tc.query, err)
				}
				got := allCalls(t, s, q, 7)
				var exp []string
				for i := n - 1; i >= 0; i-- {
					c, _ := sample(i)
					if tc.keep(c) {
						exp = append(exp, c.CallID)
					}
				}
				var ids []string
				for _, c := range got {
					ids = append(ids, c.CallID)
					if w := want[c.CallID]; !equalCall(w, c) {
						t.Fatalf("%s: stored %+v\nread back %+v", tc.query, w, c)
					}
				}
				if !reflect.DeepEqual(ids, exp) {
					t.Fatalf("%s: got %d calls %v...\nwant %d %v...", tc.query, len(ids), head(ids), len(exp), head(exp))
				}
			}
			// An agent's events, newest first.
			var events []records.Event
			q := records.EventQuery{Agent: "carol", Limit: 11}
			for {
				p, err := s.Events(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				events = append(events, p.Events...)
				if p.Next == "" {
					break
				}
				q.After, _ = records.DecodeCursor(p.Next)
			}
			wantEvents := 0
			for i := 0; i < n; i++ {
				c, evs := sample(i)
				if c.Agent == "carol" {
					for _, e := range evs {
						if e.Agent == "carol" {
							wantEvents++
						}
					}
				}
			}
			if len(events) != wantEvents {
				t.Fatalf("carol's events: %d, want %d", len(events), wantEvents)
			}
			for i := 1; i < len(events); i++ {
				if events[i].At.After(events[i-1].At) {
					t.Fatalf("events not newest first at %d", i)
				}
			}
		})
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

func equalCall(a, b records.Call) bool {
	a.Arrived, a.Ended = a.Arrived.UTC(), a.Ended.UTC()
	return a.CallID == b.CallID && a.Arrived.Equal(b.Arrived) && a.Ended.Equal(b.Ended) && a.Agent == b.Agent &&
		a.Queue == b.Queue && a.Customer == b.Customer && a.Segment == b.Segment && a.Outcome == b.Outcome &&
		a.Wait == b.Wait && a.Answer == b.Answer && a.Talk == b.Talk && a.Recording == b.Recording &&
		reflect.DeepEqual(a.CSAT, b.CSAT) && eqTime(a.Queued, b.Queued) && eqTime(a.Connected, b.Connected) &&
		eqJSON(a.Legs, b.Legs) && eqJSON(a.Transfers, b.Transfers) && eqJSON(a.Monitors, b.Monitors)
}

// eqJSON: a and b are the same JSON value (PostgreSQL's jsonb spaces it
// differently), or both absent.
func eqJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}

func eqTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// A record handed over twice (a spool replayed after a write that did
// commit) is stored once, by both backends.
func TestSameRecordTwiceStoredOnce(t *testing.T) {
	srv := pgtest.Start(t)
	for name, c := range map[string]records.Config{"file": fileConfig(t), "postgres": pgConfig(t, srv, "twice")} {
		t.Run(name, func(t *testing.T) {
			s := open(t, c)
			load(s, 0, 10)
			flush(t, s)
			load(s, 5, 15)
			flush(t, s)
			got := allCalls(t, s, records.CallQuery{}, 100)
			if len(got) != 15 {
				t.Fatalf("%d calls, want 15", len(got))
			}
			p, err := s.Events(context.Background(), records.EventQuery{CallID: "call-00007", Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			_, evs := sample(7)
			if len(p.Events) != len(evs) {
				t.Fatalf("call-00007 has %d events, want %d", len(p.Events), len(evs))
			}
		})
	}
}

// An agent's wrap-up ends after the call's record was written: its
// wrap_up event gives the call's row its wrap_up_seconds, with both
// backends, whichever comes first (a replayed spool), once (the same
// event twice counts once), across midnight; PostgreSQL's report views
// count it in the handle time.
func TestWrapUpFoldedIntoCall(t *testing.T) {
	srv := pgtest.Start(t)
	for name, c := range map[string]records.Config{"file": fileConfig(t), "postgres": pgConfig(t, srv, "wrapup")} {
		t.Run(name, func(t *testing.T) {
			s := open(t, c)
			arrived := time.Date(2026, 11, 30, 23, 57, 0, 0, time.UTC)
			call := func(id string) records.Call {
				return records.Call{CallID: id, Direction: "inbound", Hotline: "1900", Queue: "q1", Customer: "+84901", Agent: "alice",
					Arrived: arrived, Queued: records.TimePtr(arrived), Connected: records.TimePtr(arrived.Add(10 * time.Second)),
					Ended: arrived.Add(2*time.Minute + 59*time.Second), Wait: 10, Answer: 10, Talk: 160, Hold: 9, Outcome: "answered"}
			}
			wrap := func(id, evID string) records.Event {
				// Ends two seconds after the call, past midnight.
				return records.Event{ID: evID, At: arrived.Add(3*time.Minute + 1*time.Second), Kind: records.EventWrapUp,
					CallID: id, Agent: "alice", Queue: "q1", Duration: 2}
			}
			s.Call(call("after"))
			flush(t, s)
			s.Event(wrap("after", "w1"))
			flush(t, s)
			s.Event(wrap("before", "w2"))
			flush(t, s)
			s.Call(call("before"))
			s.Event(wrap("after", "w1")) // replayed
			flush(t, s)
			got := allCalls(t, s, records.CallQuery{}, 10)
			if len(got) != 2 {
				t.Fatalf("%d calls, want 2", len(got))
			}
			for _, c := range got {
				if c.WrapUp != 2 || c.Hold != 9 || c.Talk != 160 {
					t.Errorf("%s: wrap-up %v hold %v talk %v, want 2 9 160", c.CallID, c.WrapUp, c.Hold, c.Talk)
				}
			}
			if name != "postgres" {
				return
			}
			conn := connect(t, c.Postgres.DSN)
			var aht float64
			if err := conn.QueryRow(context.Background(), `SELECT aht_seconds FROM report_queue_day WHERE queue = 'q1'`).Scan(&aht); err != nil {
				t.Fatal(err)
			}
			near(t, "AHT", aht, 160+9+2)
		})
	}
}
