package sip

import (
	"sync"
	"time"
)

// setupHolds are the new calls the door process passed on that Hotline
// admitted as it read their INVITE, before their handler runs: each
// holds its place among the calls in setup (sip.overload.max_setups)
// from that read, so that the count the door process refuses on
// (doorShared.setups) includes the INVITEs waiting in Hotline for a
// goroutine, not only those waiting on the link (its unread count).
// Without them a call read and not yet handled was in neither count,
// and the door let through more than max_setups, which Hotline then
// refused late, after their wait. The handler takes its call's hold by
// Call-ID (shedInvite); a hold nobody takes (an INVITE sipgo dropped) is
// released after holdExpiry, at an overload sample.
type setupHolds struct {
	mu sync.Mutex
	m  map[string]setupHold
}

// setupHold is one call's place among the calls in setup: done ends it
// (the detector's Admit), at is when Hotline read the INVITE.
type setupHold struct {
	done func()
	at   time.Time
}

// holdExpiry is how long a hold waits for its handler: longer than an
// INVITE waits for a goroutine even in a cold overload (under a
// second). A handler that comes later finds none, and is admitted or
// refused by the detector then. A new INVITE the door's parser takes and
// sipgo's refuses (sipgo logs it and drops it) holds its place this
// long: with max_setups 64, 32 such INVITEs a second would keep every new
// call out, as 64 valid INVITEs whose setup never ends would.
const holdExpiry = 2 * time.Second

// hold keeps done as callID's place in setup from now. A second hold
// for the same Call-ID (two new INVITEs with one Call-ID read before
// either was handled) releases the first.
func (h *setupHolds) hold(callID string, done func(), now time.Time) {
	h.mu.Lock()
	if h.m == nil {
		h.m = make(map[string]setupHold)
	}
	old, had := h.m[callID]
	h.m[callID] = setupHold{done: done, at: now}
	h.mu.Unlock()
	if had {
		old.done()
	}
}

// take hands callID's hold to its handler: its done, and false when it
// has none.
func (h *setupHolds) take(callID string) (func(), bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.m[callID]
	if !ok {
		return nil, false
	}
	delete(h.m, callID)
	return c.done, true
}

// expire releases the holds older than holdExpiry at now and returns
// how many it released.
func (h *setupHolds) expire(now time.Time) int {
	var stale []func()
	h.mu.Lock()
	for id, c := range h.m {
		if now.Sub(c.at) > holdExpiry {
			stale = append(stale, c.done)
			delete(h.m, id)
		}
	}
	h.mu.Unlock()
	for _, done := range stale {
		done()
	}
	return len(stale)
}
