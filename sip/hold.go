package sip

// holdChanged carries out an agent's hold and retrieve (a re-INVITE
// sendonly or inactive, then sendrecv; onReInvite): while the call's
// bridged agent holds, the caller is taken out of the bridge and hears
// Hotline's hold music (holdSource), not silence; on retrieve the caller
// and the agent are bridged again (which stops the music). The hold's
// time is noted apart (noteHold). Holds by other legs change no media.
func (c *call) holdChanged(leg *Leg, held bool) {
	if leg.role != RoleAgent || c.caller == nil || c.caller.srv == nil || !c.hasLeg(leg) {
		return
	}
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	bridged := c.state.Bridged()
	if !bridged || !answered || c.ctx.Err() != nil {
		return
	}
	joined := c.joined(c.caller, leg)
	switch {
	case held && joined:
		c.split(leg)
		c.caller.media.Play(c.holdSource())
		c.log.Info("caller on hold: hold music", "agent", leg.peer)
	case !held && !joined:
		c.join(c.caller, leg) // stops the music
		c.log.Info("caller retrieved from hold", "agent", leg.peer)
	}
}

// joined reports whether a and b are bridged together.
func (c *call) joined(a, b *Leg) bool { return c.state.Bridges.Joined(a, b) }
