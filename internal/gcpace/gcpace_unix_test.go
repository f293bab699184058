//go:build unix

package gcpace

import (
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
)

// TestPretouch: once Start has touched the headroom, the heap grows into
// those pages without a page fault each.
func TestPretouch(t *testing.T) {
	base := debug.SetGCPercent(100)
	defer debug.SetGCPercent(base)
	p := Start(96<<20, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer p.Stop()
	<-p.touched
	before := minorFaults(t)
	var keep [][]byte
	for range 512 { // 32 MiB kept, 8,192 pages
		b := make([]byte, 64<<10)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
	}
	faults := minorFaults(t) - before
	runtime.KeepAlive(keep)
	if faults > 2000 {
		t.Errorf("%d page faults while 32 MiB (8,192 pages) grew into a touched headroom of 96 MiB, want few", faults)
	}
}

func minorFaults(t *testing.T) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return int64(ru.Minflt) // int32 on 32-bit systems
}
