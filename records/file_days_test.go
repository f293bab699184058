package records_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hotline/records"
)

// The file backend keeps a file per day (UTC): a batch whose records
// fall on one day goes to that day's file whole, and one across midnight
// is split between the two days' files. Either way every record is in
// its day's file once, and the queries find them all.
func TestFileBackendDayFiles(t *testing.T) {
	c := fileConfig(t)
	s := open(t, c)
	late := time.Date(2026, 11, 30, 23, 59, 58, 0, time.UTC)
	call := func(id string, at time.Time) records.Call {
		return records.Call{CallID: id, Direction: "inbound", Hotline: "1900", Arrived: at, Ended: at.Add(time.Second), Outcome: "abandoned"}
	}
	event := func(id string, at time.Time) records.Event {
		return records.Event{ID: id, At: at, Kind: records.EventWrapUp, CallID: "other", Agent: "alice", Duration: 1}
	}
	// One batch on one day, then one across midnight.
	s.Call(call("c1", late))
	s.Event(event("e1", late.Add(time.Second)))
	flush(t, s)
	s.Call(call("c2", late.Add(time.Second)))
	s.Event(event("e2", late.Add(3*time.Second)))
	s.Call(call("c3", late.Add(4*time.Second)))
	flush(t, s)

	want := map[string][]string{
		"2026-11-30.jsonl": {`"call_id":"c1"`, `"id":"e1"`, `"call_id":"c2"`},
		"2026-12-01.jsonl": {`"id":"e2"`, `"call_id":"c3"`},
	}
	for name, ids := range want {
		b, err := os.ReadFile(filepath.Join(c.File.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != len(ids) {
			t.Errorf("%s: %d lines, want %d:\n%s", name, len(lines), len(ids), b)
		}
		for _, id := range ids {
			if n := strings.Count(string(b), id); n != 1 {
				t.Errorf("%s: %s %d times, want once:\n%s", name, id, n, b)
			}
		}
	}
	if got := allCalls(t, s, records.CallQuery{}, 10); len(got) != 3 {
		t.Errorf("calls found: %d, want 3", len(got))
	}
}
