package records_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"hotline/records"
)

// When neither the backend nor the spool can take a flush's records (the
// disk gone), every one of them is kept in memory, not only the first
// batch's worth, and all are stored once both are back.
func TestRecordsKeptInMemoryWhenSpoolFails(t *testing.T) {
	c := fileConfig(t)
	c.BatchSize = 3
	s := open(t, c)
	breakDirs(t, c.File.Dir, c.SpoolDir)
	const n = 8 // three batches' worth
	for i := range n {
		s.Call(records.Call{CallID: fmt.Sprintf("c%d", i), Direction: "inbound", Hotline: "1900",
			Arrived: base.Add(time.Duration(i) * time.Second), Ended: base.Add(time.Duration(i+1) * time.Second), Outcome: "abandoned"})
	}
	flush(t, s)
	if st := s.Stats(); st.Written != 0 || st.Spooled != 0 || st.Held != n {
		t.Fatalf("with both directories gone: %+v, want nothing written or spooled and %d held", st, n)
	}
	for _, d := range []string{c.File.Dir, c.SpoolDir} {
		if err := os.Remove(d); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		flush(t, s)
		page, err := s.Calls(context.Background(), records.CallQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, call := range page.Calls {
			seen[call.CallID]++
		}
		if len(page.Calls) == n && len(seen) == n {
			if st := s.Stats(); st.Held != 0 {
				t.Fatalf("all %d calls stored, but %+v: want none held", n, st)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the directories came back: %d calls stored (%v), want the %d handed, once each; %+v", len(page.Calls), seen, n, s.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Records that neither the backend nor the spool takes by shutdown are
// lost with the process; Close says so, with how many, instead of
// returning as if all were kept.
func TestCloseReportsRecordsItCouldNotKeep(t *testing.T) {
	c := fileConfig(t)
	s := open(t, c)
	breakDirs(t, c.File.Dir, c.SpoolDir)
	for i := range 4 {
		s.Call(records.Call{CallID: fmt.Sprintf("c%d", i), Direction: "inbound", Hotline: "1900",
			Arrived: base, Ended: base.Add(time.Second), Outcome: "abandoned"})
	}
	err := s.Close()
	if err == nil || !strings.Contains(err.Error(), "4 records neither written nor spooled") {
		t.Fatalf("Close: %v, want it to report the 4 records lost", err)
	}
}

// breakDirs puts a file where each directory was: every write there
// fails (as root too, which file modes would not stop).
func breakDirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
