package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"hotline/internal/fsinfo"
)

// createProbe is what creating files cost where Hotline keeps its
// recordings, measured by creating empty files there (never deleting
// them: a deletion is what it looks for).
//
// Why: on an ext4 without a journal (this VM's root file system), Linux
// skips, when it picks an inode for a new file, every free inode deleted
// less than 60 s ago (360 s while its inode table block is unwritten), and
// checks each in turn. After a clean-up of thousands of files (the end of
// an earlier benchmark run, a test suite, a retention sweep), each create
// walks past all of them: 0.2-0.7 ms of CPU instead of about 25 µs, twice
// per recorded call. The figures then measure the last clean-up, not
// Hotline.
type createProbe struct {
	Files          int
	Median, Mean   time.Duration
	P90            time.Duration
	Dir            string
	Err            string
	JournallessExt bool // the file system is an ext4 without a journal
	// Waited is how long the run waited for creates to be cheap again
	// (waitCheapCreates), and FirstMedian the median before it waited.
	Waited      time.Duration
	FirstMedian time.Duration
}

// Bounds of waitCheapCreates.
const (
	// cheapCreate is a create's median cost once no recently deleted
	// inode is in the way (about 25 µs on the VM; 0.2-0.7 ms while one
	// is).
	cheapCreate = 80 * time.Microsecond
	// createWaitMax: an inode is skipped for 60 s after its deletion,
	// 360 s while its inode table block is dirty; the file system is
	// synced first.
	createWaitMax  = 6*time.Minute + 30*time.Second
	createWaitStep = 5 * time.Second
)

// waitCheapCreates probes creates where Hotline will store and, on an
// ext4 without a journal where they are slow, syncs the file system and
// waits (probing every createWaitStep, at most bound) until they are
// cheap again, so that a run started right after a clean-up (an earlier
// run's work directory, a test suite's) measures Hotline, not the
// clean-up. Anywhere else it only probes.
func waitCheapCreates(ctx context.Context, dir string, bound time.Duration, log *slog.Logger) createProbe {
	return waitCheap(ctx, bound, createWaitStep, func(n int) createProbe { return probeCreates(dir, n) },
		func() { syncDir(dir) }, log)
}

// syncDir writes back the file system holding dir (fsinfo.SyncFS), so
// that its deleted inodes' table blocks are clean; errors are not
// reported (the probes that follow tell whether it helped).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = fsinfo.SyncFS(d)
		_ = d.Close()
	}
}

// waitCheap is waitCheapCreates with the probe, the sync and the pace
// given.
func waitCheap(ctx context.Context, bound, step time.Duration, probe func(files int) createProbe, sync func(), log *slog.Logger) createProbe {
	p := probe(createProbeFiles)
	if p.Err != "" || !p.JournallessExt || p.Median <= cheapCreate {
		return p
	}
	first, start := p.Median, time.Now()
	log.Info("file creates are slow where Hotline will store (recently deleted inodes on an ext4 without a journal): syncing and waiting until they are cheap",
		"median", p.Median, "cheap", cheapCreate, "at_most", bound)
	sync()
	t := time.NewTimer(step)
	defer t.Stop()
	for time.Since(start) < bound && ctx.Err() == nil {
		select {
		case <-ctx.Done():
			continue
		case <-t.C:
		}
		p = probe(createProbeFiles / 4)
		if p.Err != "" || p.Median <= cheapCreate {
			break
		}
		t.Reset(step)
	}
	p.Waited, p.FirstMedian = time.Since(start), first
	log.Info("file creates where Hotline will store", "median", p.Median, "before", first, "waited", p.Waited.Round(time.Second))
	return p
}

// probeCreates creates n empty files in a new directory under dir and
// times each open(O_CREAT|O_EXCL) and close.
func probeCreates(dir string, n int) createProbe {
	p := createProbe{Files: n}
	d, err := os.MkdirTemp(dir, "create-probe-")
	if err != nil {
		p.Err = err.Error()
		return p
	}
	p.Dir = d
	p.JournallessExt = fsinfo.JournallessExt4(d)
	took := make([]time.Duration, 0, n)
	var sum time.Duration
	for i := range n {
		t := time.Now()
		f, err := os.OpenFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			p.Err = err.Error()
			return p
		}
		_ = f.Close()
		dt := time.Since(t)
		took = append(took, dt)
		sum += dt
	}
	p.Median, p.P90, p.Mean = DurationPercentile(took, 50), DurationPercentile(took, 90), sum/time.Duration(len(took))
	return p
}

// String is the probe as the report gives it.
func (p createProbe) String() string {
	if p.Err != "" {
		return "file-create probe failed: " + p.Err
	}
	s := fmt.Sprintf("creating a file in Hotline's work directory took %s (median; p90 %s, mean %s) over %d empty files",
		roundDur(p.Median), roundDur(p.P90), roundDur(p.Mean), p.Files)
	if p.Waited > 0 {
		s += fmt.Sprintf(", after waiting %s for them to be cheap again (%s before: inodes deleted less than a minute or six ago were in the way)",
			p.Waited.Round(time.Second), roundDur(p.FirstMedian))
	}
	if p.JournallessExt {
		s += "; it is on " + fsinfo.NoJournalNote
	}
	return s
}

func roundDur(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
