package gcpace

import (
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		base           int
		headroom, live uint64
		want           int
	}{
		{100, 256 * mib, 512 * mib, 100}, // the live heap is past the floor: GOGC's own
		{100, 256 * mib, 256 * mib, 100}, // at it
		{100, 256 * mib, 128 * mib, 200}, // 256 MiB after 128
		{100, 256 * mib, 32 * mib, 800},  // after 32
		{100, 256 * mib, 30 * mib, 864},  // 853, rounded up to a step of 32
		{200, 256 * mib, 200 * mib, 200}, // a GOGC of the operator's past the floor
		{100, 256 * mib, 0, 25600},       // no heap known: as 1 MiB
		{100, 1 << 40, 1, maxPercent},    // bounded
		{100, 256 * mib, 255 * mib, 104}, // just under the floor: 101, rounded up to a step of 4
	} {
		if got := percentFor(c.base, c.headroom, c.live); got != c.want {
			t.Errorf("percentFor(%d, %d MiB, %d B) = %d, want %d", c.base, c.headroom>>20, c.live, got, c.want)
		}
		if got := percentFor(c.base, c.headroom, c.live); c.live > 0 && uint64(got)*c.live/100 < min(c.headroom, uint64(maxPercent)*c.live/100) {
			t.Errorf("percentFor(%d, %d MiB, %d B) = %d starts the next collection before the headroom", c.base, c.headroom>>20, c.live, got)
		}
	}
}

// collectionsWhile returns how many collections ran while n bytes of
// garbage were allocated, in 64 KiB pieces, after a collection.
func collectionsWhile(n int) uint32 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var keep []byte
	for i := 0; i < n; i += 64 << 10 {
		keep = make([]byte, 64<<10)
		keep[0] = 1
	}
	runtime.KeepAlive(keep)
	runtime.ReadMemStats(&after)
	return after.NumGC - before.NumGC
}

// TestPacerSpacesCollections: with a floor of 128 MiB, 64 MiB of garbage
// after a collection starts none (one at most, should the cleanup that
// sets the pace run late); with Go's own pace the same garbage over a
// heap of a few MiB starts several. Stop gives the process its GOGC back.
func TestPacerSpacesCollections(t *testing.T) {
	base := debug.SetGCPercent(100)
	defer debug.SetGCPercent(base)

	own := collectionsWhile(64 << 20)
	if own < 4 {
		t.Fatalf("Go's own pace: %d collections over 64 MiB of garbage, want several (is the live heap over 16 MiB?)", own)
	}

	p := start(128<<20, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	runtime.GC() // the cleanup sets the pace for the live heap after it
	runtime.GC()
	paced := collectionsWhile(64 << 20)
	if paced > 1 {
		t.Errorf("paced with 128 MiB: %d collections over 64 MiB of garbage (GOGC %d), want at most 1 (Go's own pace: %d)", paced, p.Percent(), own)
	}
	if p.Percent() <= 100 {
		t.Errorf("paced GOGC = %d, want more than the process's 100", p.Percent())
	}

	p.Stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after Stop = %d, want the process's 100 back", got)
	}
	if again := collectionsWhile(64 << 20); again < 4 {
		t.Errorf("after Stop: %d collections over 64 MiB of garbage, want Go's own pace again (%d)", again, own)
	}
}

// TestStartOff: headroom 0 or GOGC=off leave the collector alone.
func TestStartOff(t *testing.T) {
	base := debug.SetGCPercent(100)
	defer debug.SetGCPercent(base)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := Start(0, log)
	runtime.GC()
	runtime.GC()
	if got := debug.SetGCPercent(100); got != 100 || p.Percent() != 100 {
		t.Errorf("headroom 0: GOGC %d (pacer says %d), want 100 untouched", got, p.Percent())
	}
	debug.SetGCPercent(-1)
	p = Start(256<<20, log)
	runtime.GC()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GOGC=off: the pacer set %d", got)
	}
	p.Stop()
	if got := debug.SetGCPercent(100); got != -1 {
		t.Errorf("GOGC=off: Stop set %d", got)
	}
}

func TestValidate(t *testing.T) {
	if err := (&Config{GCHeadroomMB: -1}).Validate(); err == nil {
		t.Error("gc_headroom_mb -1 accepted")
	}
	var d Config
	if err := d.Validate(); err != nil || d.Headroom() != 0 {
		t.Errorf("default: %v, headroom %d, want off", err, d.Headroom())
	}
	if got := (&Config{GCHeadroomMB: 256}).Headroom(); got != 256<<20 {
		t.Errorf("gc_headroom_mb 256: %d bytes", got)
	}
}
