package recording

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkBegin measures what Manager.Begin costs the caller (the SIP
// INVITE's goroutine, before the agent is bridged); the recordings are
// finished outside the timer. The spool is under $TMPDIR: run it on the
// disk Hotline's spool lives on to see that disk's cost.
func BenchmarkBegin(b *testing.B) {
	m := benchManager(b)
	recs := make([]*Recorder, 0, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := m.Begin(CallInfo{CallID: fmt.Sprintf("bench-%d@127.0.0.1", i), Caller: "+15550100", Queue: "1900"})
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
		if len(recs) == cap(recs) {
			b.StopTimer()
			finishAll(b, recs)
			recs = recs[:0]
			b.StartTimer()
		}
	}
	finishAll(b, recs)
}

// BenchmarkBeginFinish measures a short recording's whole file work:
// Begin, then Finish (WAV synced, call record written durably).
func BenchmarkBeginFinish(b *testing.B) {
	m := benchManager(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := m.Begin(CallInfo{CallID: fmt.Sprintf("bench-%d@127.0.0.1", i), Caller: "+15550100", Queue: "1900"})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Finish(time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordedCall measures what one recorded call allocates and
// costs from Begin to Finish: 2 s of both legs' 20 ms packets handed off
// and placed (the mixing goroutine's turns taken inline every 50 ms of
// audio, as in BenchmarkPacket), then Finish. Unlike BenchmarkPacket
// (one long call, its buffers at their working size) each op is a new
// recording, whose buffers are what the per-call allocations are.
func BenchmarkRecordedCall(b *testing.B) {
	m := benchManager(b)
	caller := mkRTP(0, 1, 1, 1, fill(0x20, 160))
	agent := mkRTP(8, 1, 1, 2, fill(0x21, 160))
	b.ReportAllocs()
	for n := 0; b.Loop(); n++ {
		start := time.Now()
		r, err := m.Begin(CallInfo{CallID: fmt.Sprintf("bench-%d@127.0.0.1", n), Start: start})
		if err != nil {
			b.Fatal(err)
		}
		<-r.ready // the mixing goroutine's turns come after create, so must these
		for i := range 200 {
			benchPacket(r, i, caller, agent, start)
		}
		if err := r.Finish(start.Add(2 * time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}

// benchManager is a file-backend manager (not started: nothing uploads)
// with its spool in a temporary directory.
func benchManager(b *testing.B) *Manager {
	dir := b.TempDir()
	m, err := New(Config{SpoolDir: dir + "/spool", File: FileConfig{Dir: dir + "/store"}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

func finishAll(b *testing.B, recs []*Recorder) {
	now := time.Now()
	for _, r := range recs {
		if err := r.Finish(now); err != nil {
			b.Fatal(err)
		}
	}
}
