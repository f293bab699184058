package main

import (
	"fmt"
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
