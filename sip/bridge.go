package sip

import (
	"hotline/callflow"
	"hotline/sip/media"
)

// A call is made of legs joined by bridges: the caller's leg (for a
// callback the customer's), the agent's once one answered, and any
// other leg a feature adds. Every leg of a call is in c.state (callflow.Call), in the
// order it joined, until it leaves; the teardown (closeWith) hangs up and
// closes every leg still there. The bridges are call control's
// (callflow.Bridges); the media they join is sip/media's.

// addLeg makes l one of the call's legs.
func (c *call) addLeg(l *Leg) { c.state.AddLeg(l) }

// removeLeg takes l out of the call (and out of its bridges) without
// hanging it up; false if it was not one of the call's legs.
func (c *call) removeLeg(l *Leg) bool { return c.state.RemoveLeg(l) }

// hasLeg reports whether l is one of the call's legs.
func (c *call) hasLeg(l *Leg) bool { return c.state.HasLeg(l) }

// legOf returns the call's first leg of role r, nil if none.
func (c *call) legOf(r Role) *Leg {
	l, _ := c.state.Leg(func(l *Leg) bool { return l.role == r })
	return l
}

// allLegs returns the call's legs.
func (c *call) allLegs() []*Leg { return c.state.Legs() }

// join bridges two legs of the call: each hears the other. The media
// relay packets directly (media.Bridge: the fast path of a plain
// two-party call); the call's bridges (callflow.Bridges) keep how to undo
// it.
func (c *call) join(a, b *Leg) {
	c.state.Bridges.Join(a, b, media.Bridge(a.media, b.media))
}

// split undoes every bridge l is in.
func (c *call) split(l *Leg) { c.state.Bridges.Split(l) }

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
