package sip

import (
	"slices"

	"hotline/callflow"
	"hotline/sip/media"
)

// A call is made of legs joined by bridges: the caller's leg (for a
// callback the customer's), the agent's once one answered, and any
// other leg a feature adds. Every leg of a call is in c.legs, in the
// order it joined, until it leaves; the teardown (closeWith) hangs up and
// closes every leg still there. The bridges are call control's
// (callflow.Bridges); the media they join is sip/media's.

// addLeg makes l one of the call's legs.
func (c *call) addLeg(l *Leg) {
	c.mu.Lock()
	c.legs = append(c.legs, l)
	c.mu.Unlock()
}

// removeLeg takes l out of the call (and out of its bridges) without
// hanging it up; false if it was not one of the call's legs.
func (c *call) removeLeg(l *Leg) bool {
	c.split(l)
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.legs, l)
	if i < 0 {
		return false
	}
	c.legs = slices.Delete(c.legs, i, i+1)
	return true
}

// hasLeg reports whether l is one of the call's legs.
func (c *call) hasLeg(l *Leg) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.legs, l)
}

// legOf returns the call's first leg of role r, nil if none.
func (c *call) legOf(r Role) *Leg {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.legs {
		if l.role == r {
			return l
		}
	}
	return nil
}

// allLegs returns the call's legs.
func (c *call) allLegs() []*Leg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.legs)
}

// join bridges two legs of the call: each hears the other. The media
// relay packets directly (media.Bridge: the fast path of a plain
// two-party call); the call's bridges (callflow.Bridges) keep how to undo
// it.
func (c *call) join(a, b *Leg) {
	c.bridges.Join(a, b, media.Bridge(a.media, b.media))
}

// split undoes every bridge l is in.
func (c *call) split(l *Leg) { c.bridges.Split(l) }

// hangupCause is the cause a call ends with when the peer of a leg of
// role r hangs up.
func hangupCause(r Role) error {
	switch r {
	case RoleCaller:
		return callflow.ErrCallerHangup
	case RoleCustomer:
		return callflow.ErrCustomerHangup
	case RoleOutside:
		return callflow.ErrOutsideHangup
	}
	return callflow.ErrAgentHangup
}
