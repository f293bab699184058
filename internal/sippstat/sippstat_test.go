package sippstat

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The last row of a -trace_stat file is the run's outcome; -trace_rtt rows
// are grouped by response-time number.
func TestParseFileAndRTT(t *testing.T) {
	dir := t.TempDir()
	stats := filepath.Join(dir, "stats.csv")
	if err := os.WriteFile(stats, []byte("StartTime;TotalCallCreated;CurrentCall;SuccessfulCall(C);FailedCall(C);FailedCallRejected(C);Retransmissions(C);\n"+
		"t0;5;5;0;0;0;0;\n"+
		"t1;10;2;7;1;1;3;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ParseFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	if s.Created != 10 || s.Current != 2 || s.Successful != 7 || s.Failed != 1 || s.FailedCallRejected != 1 || s.Retransmissions != 3 {
		t.Errorf("stats = %+v", s)
	}
	rtt := filepath.Join(dir, "caller_1_rtt.csv")
	if err := os.WriteFile(rtt, []byte("Date_ms;response_time_ms;rtd_no\n208.001;4;1\n408.5;12.5;1\n500;1;2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ParseRTT(rtt)
	if err != nil {
		t.Fatal(err)
	}
	if len(m[1]) != 2 || m[1][1] != 12500*time.Microsecond || len(m[2]) != 1 || m[2][0] != time.Millisecond {
		t.Errorf("rtt = %v", m)
	}
	rows, err := ParseRTTRows(rtt)
	if err != nil || len(rows) != 3 || rows[1] != (RTT{Sent: 396 * time.Millisecond, Took: 12500 * time.Microsecond, No: 1}) ||
		rows[2] != (RTT{Sent: 499 * time.Millisecond, Took: time.Millisecond, No: 2}) {
		t.Errorf("rtt rows = %+v, %v; want each with when it was sent (date less the response time)", rows, err)
	}
	if m, err := ParseRTT(filepath.Join(dir, "none.csv")); err != nil || len(m) != 0 {
		t.Errorf("missing rtt file: %v, %v; want no times", m, err)
	}
	if err := os.WriteFile(rtt, []byte("Date_ms;response_time_ms;rtd_no\n1;x;1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseRTT(rtt); err == nil {
		t.Error("a malformed rtt row was accepted")
	}
	if _, err := ParseFile(filepath.Join(dir, "none.csv")); !errors.Is(err, ErrStats) {
		t.Errorf("missing stats file: %v, want ErrStats", err)
	}
}
