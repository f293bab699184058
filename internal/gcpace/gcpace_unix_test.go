//go:build unix

package gcpace

import (
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"syscall"
	"testing"
)

// TestPretouch: once Start has touched the headroom, the runtime keeps
// those pages (free in the heap, not given back), and the heap grows
// into them without a page fault each (counted without the race
// detector, whose shadow memory faults on its own).
func TestPretouch(t *testing.T) {
	base := debug.SetGCPercent(100)
	defer debug.SetGCPercent(base)
	p := Start(96<<20, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer p.Stop()
	<-p.touched
	kept := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(kept)
	if free := kept[0].Value.Uint64(); free < 64<<20 {
		t.Errorf("%d MiB of free heap kept after writing a 96 MiB headroom, want most of it", free>>20)
	}
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
	if !raceEnabled && faults > 2000 {
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
