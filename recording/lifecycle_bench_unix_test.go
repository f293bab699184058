//go:build unix

package recording

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRecordingLifecycle measures a short recording's whole file
// work as Hotline does it under load: 8 recordings per CPU at once are
// begun, finished and stored by the uploader (file backend, store beside
// the spool under $TMPDIR: the file system make bench uses). One op is
// one recording stored. Besides the wall time it reports the process's
// CPU time per recording (getrusage: user, system and their sum), which
// is what limits the call rate and, unlike the wall time, is little
// disturbed by other work on a busy machine. bench/recording-cpu.sh runs
// it alternately on two builds.
func BenchmarkRecordingLifecycle(b *testing.B) {
	m := benchManager(b)
	if err := m.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(8)
	u0, s0 := processCPUModes(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			r, err := m.Begin(CallInfo{CallID: fmt.Sprintf("bench-%d@127.0.0.1", i), Caller: "+15550100", Queue: "1900"})
			if err != nil {
				b.Error(err)
				return
			}
			if err := r.Finish(time.Now()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for m.Backlog().Uploaded < uint64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d recordings stored after 2 minutes", m.Backlog().Uploaded, b.N)
		}
		time.Sleep(time.Millisecond)
	}
	u1, s1 := processCPUModes(b)
	b.ReportMetric(float64((u1-u0).Nanoseconds())/float64(b.N), "user-ns/op")
	b.ReportMetric(float64((s1-s0).Nanoseconds())/float64(b.N), "sys-ns/op")
	b.ReportMetric(float64((u1-u0+s1-s0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPUModes is the process's user and system CPU time.
func processCPUModes(tb testing.TB) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
