package recording

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// dropKind is why a recorder dropped packets.
type dropKind int

const (
	// dropHandoff: the recording's hand-off buffer was full (the mixing
	// goroutine behind; Recorder.Packets).
	dropHandoff dropKind = iota
	// dropRing: the kernel relay relayed the packets without the
	// recorder's copy, its ring to user space full (Recorder.Missed).
	dropRing
)

// dropTellEvery is how often, at most, a manager logs the packets its
// recorders dropped.
const dropTellEvery = time.Second

// dropTally gathers the packets a manager's recorders drop, for one
// warning a second at most. What makes a recorder drop (the host
// saturated, the kernel relay's ring full) makes every recording in
// progress drop at once: a warning per recording was thousands of lines
// in a second, written by a process that had no CPU to spare. Each
// recording's own count is in its call record (stats.dropped) and
// hotline_recording_dropped_packets_total counts them all.
type dropTally struct {
	total atomic.Uint64 // every packet dropped (Backlog.DroppedPackets)

	mu      sync.Mutex
	period  uint64    // warnings logged so far
	packets [2]uint64 // by dropKind, since the last warning
	recs    uint64    // recordings that dropped packets since then
	callID  string    // the first of them
	since   time.Time // the first drop since the last warning
	told    time.Time // the last warning
}

// add counts n packets of kind dropped by the recording of callID. seen
// is the recording's own mark of the last period it was counted in
// (guarded by the caller; 0 at first), so that a recording counts once
// in each warning however often it drops. It returns whether a warning
// is due (the last is dropTellEvery old): the caller then tells, so that
// the first drops are logged at once and a stream of them once a second
// even while the mixing goroutine is held up (a disk that stalls); what
// comes after the last warning is told by the mixing goroutine.
func (t *dropTally) add(kind dropKind, n uint64, seen *uint64, callID string, now time.Time) (due bool) {
	t.total.Add(n)
	t.mu.Lock()
	if t.packets[dropHandoff]+t.packets[dropRing] == 0 {
		t.since = now
	}
	t.packets[kind] += n
	if *seen != t.period+1 {
		*seen = t.period + 1
		if t.recs == 0 {
			t.callID = callID
		}
		t.recs++
	}
	due = now.Sub(t.told) >= dropTellEvery
	t.mu.Unlock()
	return due
}

// tell logs what was dropped since the last warning, if anything was and
// that warning is dropTellEvery old (at once with force: no recording is
// in progress any more, so nothing would tell it later).
func (t *dropTally) tell(log *slog.Logger, now time.Time, force bool) {
	t.mu.Lock()
	handoff, ring := t.packets[dropHandoff], t.packets[dropRing]
	if handoff+ring == 0 || !force && now.Sub(t.told) < dropTellEvery {
		t.mu.Unlock()
		return
	}
	recs, callID, since := t.recs, t.callID, t.since
	t.packets = [2]uint64{}
	t.recs, t.callID, t.told = 0, "", now
	t.period++
	t.mu.Unlock()
	log.Warn("recordings dropped audio, recorded as silence (each recording's count is in its call record; call_id: the first of them)",
		"dropped_packets", handoff+ring, "handoff_full", handoff, "kernel_ring_full", ring,
		"recordings", recs, "call_id", callID, "over", now.Sub(since).Round(time.Millisecond))
}
