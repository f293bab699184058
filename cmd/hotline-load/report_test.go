package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestVerdict(t *testing.T) {
	higher := &target{1000, true, "≥ 1,000"}
	lower := &target{5, false, "≤ 5 µs"}
	zero := &target{0, false, "0"}
	for _, c := range []struct {
		s    Summary
		t    *target
		want string
	}{
		{Summarize([]float64{1500, 2000, 2500}), higher, "met (2.00x the target)"},
		{Summarize([]float64{450}), higher, "missed by 55% (0.45x the target)"},
		{Summarize([]float64{4}), lower, "met (80% of the limit)"},
		{Summarize([]float64{12.5}), lower, "missed by 150% (2.50x the limit)"},
		{Summarize([]float64{0}), zero, "met"},
		{Summarize([]float64{7}), zero, "missed (7 instead of 0)"},
		{Summarize(nil), higher, "not measured"},
		{Summarize([]float64{1}), nil, "—"},
	} {
		if got := verdict(c.s, c.t); got != c.want {
			t.Errorf("verdict(%v, %+v) = %q, want %q", c.s.Values, c.t, got, c.want)
		}
	}
}

func TestFmtNum(t *testing.T) {
	for _, c := range []struct {
		x    float64
		want string
	}{{1000, "1000"}, {12.345, "12.3"}, {3.14159, "3.14"}, {0.012345, "0.0123"}, {250.4, "250"}, {math.NaN(), "n/a"}} {
		if got := fmtNum(c.x); got != c.want {
			t.Errorf("fmtNum(%v) = %q, want %q", c.x, got, c.want)
		}
	}
}

func TestWriteFiguresTable(t *testing.T) {
	var b bytes.Buffer
	writeFigures(&b, []figure{
		{ID: "1", Name: "call rate", Unit: "calls/s", Tool: "hotline-load", S: Summarize([]float64{400, 450, 500}),
			Target: &target{1000, true, "≥ 1,000"}},
		{ID: "3b", Name: "bare relay", Unit: "µs", Tool: "relay", S: Summarize([]float64{1.5})},
	})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("table has %d lines, want header, rule and 2 rows:\n%s", len(lines), b.String())
	}
	want := "| 1 | call rate (calls/s) | hotline-load | 400 | 450 | 500 | 3 | ≥ 1,000 | missed by 55% (0.45x the target) |"
	if lines[2] != want {
		t.Errorf("row:\n%s\nwant:\n%s", lines[2], want)
	}
	for i, l := range lines {
		if n := strings.Count(l, "|"); n != 10 {
			t.Errorf("line %d has %d cell separators, want 10: %s", i, n, l)
		}
	}
}

// TestReportSections checks that a report names the machine, the tools
// and every figure, and stays a valid table when nothing was measured.
func TestReportSections(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &results{Started: start, Finished: start.Add(3 * time.Minute), Cfg: defaultBenchConfig(true),
		Machine:  machineInfo{Host: "box", CPU: "Test CPU", Cores: 2, MemBytes: 4 << 30, Kernel: "6.1", GoVersion: "go1.26", Commit: "abc123"},
		RateReps: []float64{450}, Routing: "BenchmarkX 10 100 ns/op", Notes: []string{"noisy neighbours"}}
	r.Cfg.Overload, r.Cfg.HotlineLog, r.Cfg.HotlineEnv = "{socket_backlog: -1}", "debug", []string{"GOGC=200", "GODEBUG=gctrace=1"}
	var h Histogram
	h.Add(300)
	r.Conc = []concRep{{Max: 1000, Bridged: 1000, Uploaded: 1000, Steps: []concStep{{Calls: 1000, HotlineCores: 1.2,
		HotlineCPU: 6 * time.Second, PacketsRelayed: 500000, Window: WindowStats{Sent: 500000, Received: 500000, Delay: h}}}}}
	var b bytes.Buffer
	r.writeReport(&b)
	out := b.String()
	for _, want := range []string{"# Hotline benchmark — 2026-01-02, box", "Test CPU, 2 logical cores", "Commit: abc123",
		"go1.26", "quick (BENCH_QUICK=1)", "| 1 | call rate", "| 2 | concurrent recorded calls", "| 3a |", "| 3c |",
		"- Hotline's sip.overload: {socket_backlog: -1} (-overload)", "- Hotline's log level: debug (-hotline-log)",
		"- Hotline's environment adds: GOGC=200 GODEBUG=gctrace=1 (-hotline-env)",
		"INVITE → 180, p99", "| 5 |", "| 6 |", "BenchmarkX 10 100 ns/op", "noisy neighbours", toolGo, toolRelay,
		"| 3a | Hotline CPU per relayed RTP packet (recording on) (µs) | /proc of the Hotline process | 12 | 12 | 12 | 1 | ≤ 5 µs | missed by 140% (2.40x the limit) |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

func TestNextConcStep(t *testing.T) {
	// Hotline at 0.8 cores for 500 calls: the limit is 1,000 calls; with
	// the load generator the machine (2 CPUs) allows ~594.
	last := concStep{Calls: 500, HotlineCores: 0.8, LoadgenCores: 0.8}
	if got := nextConcStep(last, 1000, 2); got != 650 {
		t.Errorf("next = %d, want 650 (15%% beyond 500 is more than the predicted 594, rounded up to 50)", got)
	}
	if got := nextConcStep(concStep{Calls: 500, HotlineCores: 0.2}, 1000, 8); got != 1000 {
		t.Errorf("plenty of CPU: next = %d, want the planned 1000", got)
	}
	if got := nextConcStep(concStep{}, 250, 2); got != 250 {
		t.Errorf("no measurement: next = %d, want the planned 250", got)
	}
}

// TestBenchRefusesBadTuning: a -hotline-log or -hotline-env that Hotline
// could not take stops the run at once with exit 2 and says which flag.
func TestBenchRefusesBadTuning(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-hotline-log", "loud"}, `-hotline-log: "loud" is not debug, info, warn or error`},
		{[]string{"-hotline-env", "GOGC=200 GOMAXPROCS"}, `-hotline-env: "GOMAXPROCS" is not NAME=VALUE`},
		{[]string{"-hotline-env", "=1"}, `-hotline-env: "=1" is not NAME=VALUE`},
	} {
		var out, errs bytes.Buffer
		if code := runBench(append(tc.args, "-out", t.TempDir()), &out, &errs); code != 2 || !strings.Contains(errs.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errs.String(), tc.want)
		}
	}
}
