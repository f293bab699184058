package recording

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDirSyncCoversEveryCaller: every caller of sync returns only after a
// fsync that began after it called (one begun before may miss its
// rename), callers arriving during a fsync share the next one, and a
// failed fsync is reported to those it was for.
func TestDirSyncCoversEveryCaller(t *testing.T) {
	var (
		clock   atomic.Int64 // orders events
		fsyncs  atomic.Int64
		running atomic.Int32
		failAt  = int64(3) // the 3rd fsync fails
		mu      sync.Mutex
		starts  []int64 // each fsync's start time
	)
	s := newDirSync(t.TempDir())
	s.fsync = func(string) error {
		if running.Add(1) != 1 {
			t.Error("two fsyncs at once")
		}
		defer running.Add(-1)
		n := fsyncs.Add(1)
		mu.Lock()
		starts = append(starts, clock.Add(1))
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		if n == failAt {
			return errors.New("disk on fire")
		}
		return nil
	}
	var wg sync.WaitGroup
	var failures atomic.Int64
	const callers = 40
	for i := range callers {
		wg.Go(func() {
			time.Sleep(time.Duration(i%8) * time.Millisecond)
			called := clock.Add(1)
			err := s.sync()
			done := clock.Load()
			if err != nil {
				failures.Add(1)
			}
			// Some fsync must have started after called and before done.
			covered := false
			mu.Lock()
			defer mu.Unlock()
			for _, st := range starts {
				if st > called && st <= done {
					covered = true
				}
			}
			if !covered {
				t.Errorf("sync called at %d returned at %d without a fsync begun in between", called, done)
			}
		})
	}
	wg.Wait()
	if n := fsyncs.Load(); n >= callers || n < 2 {
		t.Errorf("%d fsyncs for %d concurrent callers, want fewer (shared) and at least 2", n, callers)
	}
	if failures.Load() == 0 {
		t.Error("the failed fsync was reported to nobody")
	}
	if err := s.sync(); err != nil {
		t.Errorf("sync after the failure: %v", err)
	}
}
