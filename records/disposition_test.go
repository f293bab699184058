package records_test

import (
	"context"
	"testing"
	"time"

	"hotline/internal/pgtest"
	"hotline/records"
)

// A wrap-up code given to a call is stored as a disposition event and
// read back on the call's history row, whichever is written first, the
// latest code winning, also when the code comes after midnight; with
// PostgreSQL it is in the calls table's disposition column.
func TestDispositionStored(t *testing.T) {
	srv := pgtest.Start(t)
	for name, c := range map[string]records.Config{"file": fileConfig(t), "postgres": pgConfig(t, srv, "disposition")} {
		t.Run(name, func(t *testing.T) {
			s := open(t, c)
			late := base.Add(-2 * time.Minute) // 21:58, ended 22:01, coded just past midnight
			call := func(id string, arrived time.Time) records.Call {
				return records.Call{CallID: id, Queue: "default", Agent: "alice", Arrived: arrived,
					Ended: arrived.Add(3 * time.Minute), Outcome: "answered"}
			}
			code := func(id, code string, at time.Time) {
				s.Event(records.Event{At: at, Kind: records.EventDisposition, CallID: id, Agent: "alice", Queue: "default", Reason: code})
			}
			// after: the row first, the code in a later write, the next day.
			s.Call(call("after", late))
			flush(t, s)
			code("after", "sale", base.Add(2*time.Hour+time.Minute))
			// before: the code is written before the row.
			code("before", "callback", base.Add(10*time.Minute))
			flush(t, s)
			s.Call(call("before", base.Add(5*time.Minute)))
			// twice: the latest code wins.
			s.Call(call("twice", base.Add(20*time.Minute)))
			code("twice", "no_sale", base.Add(24*time.Minute))
			code("twice", "sale", base.Add(25*time.Minute))
			// none: no code.
			s.Call(call("none", base.Add(30*time.Minute)))
			flush(t, s)

			got := map[string]string{}
			for _, c := range allCalls(t, s, records.CallQuery{}, 2) {
				got[c.CallID] = c.Disposition
			}
			want := map[string]string{"after": "sale", "before": "callback", "twice": "sale", "none": ""}
			for id, w := range want {
				if d, ok := got[id]; !ok || d != w {
					t.Errorf("call %s: disposition %q (listed %v), want %q", id, d, ok, w)
				}
			}
			evs, err := s.Events(context.Background(), records.EventQuery{Kind: records.EventDisposition, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs.Events) != 4 {
				t.Errorf("%d disposition events, want 4: %+v", len(evs.Events), evs.Events)
			}
			if name == "postgres" {
				conn := connect(t, c.Postgres.DSN)
				for id, w := range want {
					var d string
					if err := conn.QueryRow(context.Background(), "SELECT disposition FROM calls WHERE call_id = $1", id).Scan(&d); err != nil || d != w {
						t.Errorf("calls row %s: disposition %q (%v), want %q", id, d, err, w)
					}
				}
			}
		})
	}
}
