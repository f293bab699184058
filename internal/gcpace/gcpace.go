// Package gcpace sets the Go garbage collector's pace for a long-running
// service: a collection no sooner than a floor of new allocation after
// the last one (Headroom), however small the live heap, and as GOGC sets
// it beyond that.
//
// With Go's default (GOGC=100) the next collection starts once the heap
// has grown by as much as was live after the last one. A service that
// starts idle has a live heap of a few tens of MB, so its first heavy
// seconds after a start run a collection every second or less, while
// the heap grows into pages it never had (a fault each). On the 2-core
// test VM, Hotline's first 400 calls/s step after a start refused over
// 500 of its 3,200 calls in 11 of 17 runs by default, and in 1 of 6 with
// a headroom of 256 MiB (bench/README.md, "The first heavy step after a
// start"; noisy, and what trips in those steps is the first calls'
// hang-ups). A floor under the headroom keeps collections for when they
// free something worth having, as a JVM's initial heap (-Xms, with
// -XX:+AlwaysPreTouch) does; what it costs is memory: up to the live
// heap and Headroom, instead of twice the live heap.
package gcpace

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"hotline/internal/cfg"
)

// Config is the runtime section.
type Config struct {
	// GCHeadroomMB (off by default): the garbage collector starts a
	// collection no sooner than this many MiB of new allocation after
	// the last one, however small the live heap (a floor under what GOGC
	// gives: a collection once the heap has grown by GOGC% of the live
	// heap), and Hotline writes that much heap once at start, so that
	// the heap grows into pages it already has. 256 is what was
	// measured (bench/README.md, "The first heavy step after a start").
	// The memory it takes: that much at once, and up to the live heap
	// and that much, instead of twice the live heap. Not applied with
	// GOGC=off; a memory limit (GOMEMLIMIT) still bounds it. 0: Go's own
	// pace.
	GCHeadroomMB int `yaml:"gc_headroom_mb"`
}

// Validate reports a negative or huge GCHeadroomMB.
func (c *Config) Validate() error {
	if n := c.GCHeadroomMB; n < 0 || n > 1<<20 {
		return cfg.Errorf("gc_headroom_mb", "must be between 0 (off) and 1048576 MiB, got %d", n)
	}
	return nil
}

// Headroom is GCHeadroomMB in bytes (0: off).
func (c *Config) Headroom() uint64 { return uint64(max(c.GCHeadroomMB, 0)) << 20 }

// Pacer keeps GOGC at the larger of the process's own and the percent
// that puts the next collection Headroom after the live heap, set again
// after every collection. Stop puts the process's own GOGC back.
type Pacer struct {
	headroom uint64
	base     int // GOGC as the process had it

	touched chan struct{} // closed once the headroom has been touched

	mu      sync.Mutex
	stopped bool
	percent int // GOGC as last set
	sample  []metrics.Sample
}

// maxPercent bounds the GOGC set for a tiny live heap.
const maxPercent = 1_000_000

// Start paces the collector with headroom bytes, and touches that much
// heap once in the background (pretouch); headroom 0, or GOGC=off, leaves
// Go's own pace (and returns a Pacer whose Stop does nothing).
func Start(headroom uint64, log *slog.Logger) *Pacer { return start(headroom, log, true) }

func start(headroom uint64, log *slog.Logger, touch bool) *Pacer {
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	p := &Pacer{headroom: headroom, base: base, percent: base,
		sample:  []metrics.Sample{{Name: "/gc/heap/live:bytes"}},
		touched: make(chan struct{})}
	if headroom == 0 || base < 0 {
		p.stopped = true
		close(p.touched)
		return p
	}
	p.adjust()
	p.arm()
	if touch {
		go func() {
			defer close(p.touched)
			pretouch(headroom)
		}()
	} else {
		close(p.touched)
	}
	log.Info("garbage collector paced", "gc_headroom_mb", headroom>>20, "gogc", base, "gogc_now", p.Percent())
	return p
}

// Percent is the GOGC the pacer set last (the process's own when off).
func (p *Pacer) Percent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.percent
}

// Stop puts the process's own GOGC back; the pacer sets it no more.
func (p *Pacer) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	debug.SetGCPercent(p.base)
	p.percent = p.base
}

// pretouch writes to n bytes of new heap once, then frees them: the pages
// are then the process's, and the heap grows into them later without a
// page fault each (15 µs a page on the test VM: 10,000-20,000 a second
// in the first heavy seconds, up to a third of a core). The pacer's goal (the live heap
// and the headroom) keeps the runtime from giving them back.
func pretouch(n uint64) {
	b := make([]byte, n)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	runtime.GC() // frees them now, not at the next collection
}

// arm registers a cleanup on a new unreachable object: it runs after the
// next collection, which is when the live heap is known anew.
func (p *Pacer) arm() {
	runtime.AddCleanup(new(sentinel), func(p *Pacer) {
		p.mu.Lock()
		stopped := p.stopped
		p.mu.Unlock()
		if stopped {
			return
		}
		p.adjust()
		p.arm()
	}, p)
}

// sentinel is large enough not to be batched with other tiny objects
// (whose cleanups may wait for the whole block).
type sentinel struct{ _ [32]byte }

// adjust sets GOGC for the live heap of the last collection.
func (p *Pacer) adjust() {
	metrics.Read(p.sample)
	live := uint64(0)
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		live = p.sample[0].Value.Uint64()
	}
	want := percentFor(p.base, p.headroom, live)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || want == p.percent {
		return
	}
	debug.SetGCPercent(want)
	p.percent = want
}

// percentFor is the GOGC that starts the next collection headroom bytes
// after a live heap of live bytes, or base if that is later. It moves in
// steps of at most a sixteenth, so that a live heap that changes a little
// does not set it anew after every collection.
func percentFor(base int, headroom, live uint64) int {
	if live == 0 {
		live = 1 << 20
	}
	want := (headroom*100 + live - 1) / live // rounded up
	if want <= uint64(base) {
		return base
	}
	// Round up to a multiple of a power of two at most a sixteenth of it.
	step := uint64(1)
	for step*32 <= want {
		step *= 2
	}
	want = (want + step - 1) / step * step
	return int(min(want, maxPercent))
}
