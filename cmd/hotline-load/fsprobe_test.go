package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func TestProbeCreatesMakesAndKeepsItsFiles(t *testing.T) {
	dir := t.TempDir()
	p := probeCreates(dir, 50)
	if p.Err != "" {
		t.Fatal(p.Err)
	}
	ents, err := os.ReadDir(p.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 50 {
		t.Fatalf("probe left %d files, want all 50 (it must not delete: deletions are what it measures)", len(ents))
	}
	if p.Median <= 0 || p.P90 < p.Median || p.Mean <= 0 {
		t.Fatalf("timings: median %v p90 %v mean %v", p.Median, p.P90, p.Mean)
	}
	if s := p.String(); !strings.Contains(s, "over 50 empty files") {
		t.Fatalf("report text %q", s)
	}
}

func TestProbeCreatesReportsAnUnwritableDirectory(t *testing.T) {
	p := probeCreates("/nonexistent/hotline-probe", 10)
	if p.Err == "" || !strings.HasPrefix(p.String(), "file-create probe failed") {
		t.Fatalf("probe of a missing directory: %+v", p)
	}
}

// TestWaitCheapSyncsAndWaitsOnlyWhereCreatesAreSlow: on an ext4 without
// a journal with slow creates the run syncs, then probes until creates
// are cheap and reports the wait and the median before it; creates that
// are cheap, or slow elsewhere, are not waited for; the wait is bounded.
func TestWaitCheapSyncsAndWaitsOnlyWhereCreatesAreSlow(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	fake := func(medians ...time.Duration) (func(int) createProbe, *int) {
		calls := 0
		return func(n int) createProbe {
			m := medians[min(calls, len(medians)-1)]
			calls++
			return createProbe{Files: n, Median: m, JournallessExt: true}
		}, &calls
	}
	slow, cheap := 400*time.Microsecond, 20*time.Microsecond

	probe, calls := fake(slow, slow, slow, cheap)
	synced := 0
	p := waitCheap(ctx, time.Minute, time.Millisecond, probe, func() { synced++ }, log)
	if p.Median != cheap || p.FirstMedian != slow || p.Waited <= 0 || *calls != 4 || synced != 1 {
		t.Errorf("slow then cheap: %+v after %d probes and %d syncs, want the cheap probe, the slow median before, a wait, 4 probes, 1 sync", p, *calls, synced)
	}
	if s := p.String(); !strings.Contains(s, "after waiting") || !strings.Contains(s, "400µs before") {
		t.Errorf("report text %q does not tell the wait", s)
	}

	probe, calls = fake(cheap)
	if p := waitCheap(ctx, time.Minute, time.Millisecond, probe, func() { t.Error("synced with cheap creates") }, log); p.Waited != 0 || *calls != 1 {
		t.Errorf("cheap at once: %+v after %d probes, want no wait", p, *calls)
	}
	journaled := func(n int) createProbe { return createProbe{Files: n, Median: slow} }
	if p := waitCheap(ctx, time.Minute, time.Millisecond, journaled, func() { t.Error("synced a file system with a journal") }, log); p.Waited != 0 {
		t.Errorf("slow on another file system: %+v, want no wait (the scan is ext4's without a journal)", p)
	}

	probe, _ = fake(slow)
	start := time.Now()
	p = waitCheap(ctx, 30*time.Millisecond, time.Millisecond, probe, func() {}, log)
	if took := time.Since(start); p.Median != slow || p.Waited < 30*time.Millisecond || took > 5*time.Second {
		t.Errorf("never cheap: %+v after %v, want the slow probe once the bound passed", p, took)
	}
}
