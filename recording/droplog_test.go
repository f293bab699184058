package recording

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// logCapture keeps the records logged to it.
type logCapture struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCapture) WithGroup(string) slog.Handler            { return c }
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.recs = append(c.recs, r.Clone())
	c.mu.Unlock()
	return nil
}

// lines returns the records logged at level with message msg, each as its
// attributes.
func (c *logCapture) lines(level slog.Level, msg string) []map[string]slog.Value {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]slog.Value
	for _, r := range c.recs {
		if r.Level != level || r.Message != msg {
			continue
		}
		attrs := map[string]slog.Value{}
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value
			return true
		})
		out = append(out, attrs)
	}
	return out
}

// warnings returns every warning logged.
func (c *logCapture) warnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.recs {
		if r.Level >= slog.LevelWarn {
			out = append(out, r.Message)
		}
	}
	return out
}

const dropWarning = "recordings dropped audio, recorded as silence (each recording's count is in its call record; call_id: the first of them)"

// Every recording in progress drops at once when the host is saturated
// (the mixer behind, the kernel relay's ring full): that is a warning at
// the first drop, then one a second at most for them all, with the
// counts, not a warning per recording; and each recording's own total
// when it finishes.
func TestDropsAreOneWarningASecond(t *testing.T) {
	var logs logCapture
	c := testConfig(t)
	c.QueuePackets = 8
	m, err := New(c, Options{Log: slog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	const calls = 40
	recs := make([]*Recorder, calls)
	held := make([]bool, calls)
	release := func(i int) {
		if held[i] {
			held[i] = false
			recs[i].wmu.Unlock()
		}
	}
	t.Cleanup(func() { // before the manager's Close, which waits for them
		for i, r := range recs {
			release(i)
			if r != nil {
				r.Finish(at(700)) // ErrFinished unless the test failed before
			}
		}
	})
	for i := range recs {
		r, err := m.Begin(CallInfo{CallID: fmt.Sprintf("drop-%02d", i), Start: t0})
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = r
		// The mixing goroutine is held up on these recordings (a disk
		// that stalls): their hand-off buffers fill and stay full.
		r.wmu.Lock()
		held[i] = true
	}
	// Each recording: a read of 18 packets, of which 8 fit while its
	// hand-off is empty, and 3 copies the kernel relay could not give.
	round := func(k0 int) {
		for _, r := range recs {
			pkts := make([][]byte, 18)
			for k := range pkts {
				pkts[k] = callerU.pkt(k0+k, code(k0+k))
			}
			r.Packets(Caller, pkts, callerU.arrival(k0))
			r.Missed(Agent, 3)
		}
	}
	warnings := func() []map[string]slog.Value { return logs.lines(slog.LevelWarn, dropWarning) }
	check := func(l map[string]slog.Value, packets, handoff, ring, recordings uint64, callID string) {
		t.Helper()
		if l["dropped_packets"].Uint64() != packets || l["handoff_full"].Uint64() != handoff ||
			l["kernel_ring_full"].Uint64() != ring || l["recordings"].Uint64() != recordings || l["call_id"].String() != callID {
			t.Errorf("warning %v, want %d dropped packets (%d hand-off full, %d ring full) of %d recordings, call_id %s",
				l, packets, handoff, ring, recordings, callID)
		}
	}

	round(0)
	first := time.Now()
	// The first drop is told at once: 10 packets of drop-00.
	w := warnings()
	if len(w) != 1 {
		t.Fatalf("%d warnings after the first round, want 1 (at the first drop): %v", len(w), w)
	}
	check(w[0], 10, 10, 0, 1, "drop-00")
	round(18)
	round(36)
	if w := warnings(); len(w) != 1 {
		t.Fatalf("%d warnings within a second of the first, want 1: %v", len(w), w)
	}
	// The first drop a second later tells everything since the first
	// warning: the first round's but drop-00's 10, the next two rounds'
	// 21 a recording, and its own 18, each recording counted once.
	time.Sleep(dropTellEvery - time.Since(first) + 10*time.Millisecond)
	round(54)
	w = warnings()
	if len(w) != 2 {
		t.Fatalf("%d warnings after a second, want 2: %v", len(w), w)
	}
	check(w[1], 40*13-10+2*40*21+18, 39*10+2*40*18+18, 40*3+2*40*3, 40, "drop-00")

	for i, r := range recs {
		release(i)
		if st := r.Stats(); st.Dropped != 13+3*21 {
			t.Errorf("%s: %d dropped, want %d", r.info.CallID, st.Dropped, 13+3*21)
		}
		if err := r.Finish(at(700)); err != nil {
			t.Fatal(err)
		}
	}
	// The rest of the last round is told when the last recording ends.
	deadline := time.Now().Add(5 * time.Second)
	for len(warnings()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	w = warnings()
	if len(w) != 3 {
		t.Fatalf("%d warnings once the recordings ended, want 3: %v", len(w), w)
	}
	check(w[2], 3+39*21, 39*18, 3+39*3, 40, "drop-00")
	if got := m.Backlog().DroppedPackets; got != calls*(13+3*21) {
		t.Errorf("the manager counts %d dropped packets, want %d", got, calls*(13+3*21))
	}
	fin := logs.lines(slog.LevelInfo, "recording finished with audio dropped, recorded as silence")
	if len(fin) != calls {
		t.Errorf("%d recordings told their drops as they finished, want %d", len(fin), calls)
	}
	for _, l := range fin {
		if l["dropped_packets"].Uint64() != 13+3*21 {
			t.Errorf("finished recording %s told %d dropped packets, want %d", l["call_id"], l["dropped_packets"].Uint64(), 13+3*21)
		}
	}
	if all := logs.warnings(); len(all) != 3 {
		t.Errorf("%d warnings in all, want the 3 above: %v", len(all), all)
	}
}

// What is dropped just before the last recording finishes is told when the
// mixing goroutine stops, not left for a recording that may never come.
func TestDropsToldWhenTheLastRecordingEnds(t *testing.T) {
	var logs logCapture
	m, err := New(testConfig(t), Options{Log: slog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	for i, missed := range []uint64{4, 5} {
		r, err := m.Begin(CallInfo{CallID: fmt.Sprintf("last-%d", i), Start: t0})
		if err != nil {
			t.Fatal(err)
		}
		r.Missed(Caller, missed)
		if err := r.Finish(at(100)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := logs.lines(slog.LevelWarn, dropWarning)
		var n uint64
		for _, l := range lines {
			n += l["kernel_ring_full"].Uint64()
		}
		if n == 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("warnings told %d of the 9 copies missed: %v", n, lines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
