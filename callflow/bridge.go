package callflow

import (
	"slices"
	"sync"
)

// Bridges are the bridges between a call's legs: which two legs are
// joined, each hearing the other, and how to separate them. Its zero value
// has no bridge.
//
// L is the SIP side's leg (sip's *Leg). The SIP side joins the media
// (sip: media.Bridge) and gives the bridge its undo: Bridges only keeps
// which legs are joined, so a bridge's packets go leg to leg in the media
// path without passing through call control.
type Bridges[L comparable] struct {
	mu      sync.Mutex
	bridges []bridge[L]
}

// bridge joins the media of two legs; undo separates them.
type bridge[L comparable] struct {
	a, b L
	undo func()
}

// Join notes that the media of a and b were joined; undo separates them.
func (bs *Bridges[L]) Join(a, b L, undo func()) {
	bs.mu.Lock()
	bs.bridges = append(bs.bridges, bridge[L]{a: a, b: b, undo: undo})
	bs.mu.Unlock()
}

// Joined reports whether a and b are bridged together.
func (bs *Bridges[L]) Joined(a, b L) bool {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for _, br := range bs.bridges {
		if br.a == a && br.b == b || br.a == b && br.b == a {
			return true
		}
	}
	return false
}

// Split undoes every bridge l is in, in the order they were made.
func (bs *Bridges[L]) Split(l L) {
	bs.mu.Lock()
	var undo []func()
	bs.bridges = slices.DeleteFunc(bs.bridges, func(br bridge[L]) bool {
		if br.a == l || br.b == l {
			undo = append(undo, br.undo)
			return true
		}
		return false
	})
	bs.mu.Unlock()
	for _, u := range undo {
		u()
	}
}
