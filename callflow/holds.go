package callflow

import (
	"sync"
	"time"
)

// Holds are the times a call's legs were on hold (a re-INVITE sendonly
// or inactive until the one resuming it), each leg's own, for the call's
// record (Timeline.Holds). Its zero value has none. L is the SIP side's
// leg.
type Holds[L comparable] struct {
	mu    sync.Mutex
	ended []Period
	since map[L]time.Time // the start of the hold each leg is in
}

// Note notes that l is (held) or is no more on hold at now; a leg already
// in the state it is said to be in changes nothing.
func (h *Holds[L]) Note(l L, held bool, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	since, was := h.since[l]
	switch {
	case held && !was:
		if h.since == nil {
			h.since = map[L]time.Time{}
		}
		h.since[l] = now
	case !held && was:
		delete(h.since, l)
		h.ended = append(h.ended, Period{Start: since, End: now})
	}
}

// Periods are the holds so far: the ended ones in the order they ended,
// then those still on (End zero).
func (h *Holds[L]) Periods() []Period {
	h.mu.Lock()
	defer h.mu.Unlock()
	ps := make([]Period, 0, len(h.ended)+len(h.since))
	ps = append(ps, h.ended...)
	for _, since := range h.since {
		ps = append(ps, Period{Start: since})
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}
