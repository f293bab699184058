package sip

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/audio"
	"hotline/callflow"
	"hotline/sip/media"
	"hotline/sip/sdp"
)

// onMonitorCode handles a supervisor dialling *31<agent>#: the INVITE
// must authenticate (digest) as an agent with the supervisor role, and
// the agent must be on a call. Hotline answers, and the supervisor hears
// caller and agent (listen); keys 4, 5 and 6 switch to listen, whisper
// (the agent hears the supervisor too) and barge (all three hear each
// other). When the monitored call ends Hotline hangs the supervisor up;
// when the supervisor hangs up the call goes on as before. Refused: 403
// Not A Supervisor / Cannot Monitor Yourself, 404 Agent Not On A Call,
// 486 Already Monitored, 488 without usable SDP.
func (s *Server) onMonitorCode(req *sip.Request, tx sip.ServerTransaction, agent string) {
	user, ok := s.reg.Authenticate(req, tx)
	if !ok {
		return // answered 401/403
	}
	if err := CheckMonitor(user, agent, s.deps.Routing.IsSupervisor); err != nil {
		s.refuseMonitor(req, tx, user, agent, err)
		return
	}
	mc := s.agentsCall(agent)
	if mc == nil {
		s.refuseMonitor(req, tx, user, agent, ErrNoCallToWatch)
		return
	}
	leg, ok := s.acceptFeatureCall(req, tx)
	if !ok {
		return
	}
	callerLeg, agentLeg := mc.caller, mc.legOf(RoleAgent)
	if callerLeg == nil || agentLeg == nil || agentLeg.peer != agent {
		_ = leg.srv.Close()
		_ = leg.media.Close()
		s.refuseMonitor(req, tx, user, agent, ErrNoCallToWatch)
		return
	}
	mon, err := media.NewMonitor(callerLeg.media, agentLeg.media, leg.media, media.Listen)
	if err != nil {
		_ = leg.srv.Close()
		_ = leg.media.Close()
		s.refuseMonitor(req, tx, user, agent, ErrMonitored)
		return
	}
	// The supervisor's dialog has a call of its own in the dialog table
	// (its BYE ends the monitoring, not the monitored call); it is not a
	// hotline call (no record, no queue).
	c := &call{s: s, id: leg.callID, log: mc.log.With("supervisor", user, "supervisor_call_id", leg.callID), caller: leg, agentGone: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancelCause(s.runCtx)
	s.register(leg.callID, &dialogRef{call: c, leg: leg})
	s.calls.Add(1)
	if err := leg.srv.RespondSDP(leg.localSDP()); err != nil {
		mon.Stop()
		c.cancel(nil)
		s.unregister(leg.callID)
		_ = leg.srv.Close()
		_ = leg.media.Close()
		s.calls.Done()
		return
	}
	s.runMonitor(mc, c, leg, mon, user, agent, callflow.MonitorViaCode, media.Listen)
}

// runMonitor runs a supervisor's monitoring of mc until the call or the
// supervisor's leg (of the pseudo call c) ends, then cleans up: keys
// switch modes, metrics count the time in each mode, the supervisor is
// hung up unless they hung up. The session, its modes and its end go in
// mc's record (via: callflow.MonitorViaCode or MonitorViaAPI). It owns
// leg, c and one s.calls count.
func (s *Server) runMonitor(mc, c *call, leg *Leg, mon *media.Monitor, user, agent, via string, mode media.MonitorMode) {
	since := s.now()
	session := mc.monitorStarted(callflow.Monitoring{Supervisor: user, Agent: agent, Via: via, Start: since,
		Modes: []callflow.ModeChange{{Mode: mode.String(), At: since}}})
	counted := false
	// countTime counts the time in the last mode once, before the
	// supervisor's BYE: whoever saw the BYE finds the time counted.
	countTime := func() {
		if !counted {
			counted = true
			s.deps.Metrics.MonitorModeTime(mode.String(), s.now().Sub(since))
		}
	}
	defer func() {
		mon.Stop()
		c.cancel(nil)
		countTime()
		mc.monitorEnded(session, s.now())
		s.unregister(leg.callID)
		if leg.srv != nil {
			_ = leg.srv.Close()
		} else {
			_ = leg.cli.Close()
		}
		_ = leg.media.Close()
		s.calls.Done()
	}()
	bye := func() {
		countTime()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = leg.Bye(ctx)
	}
	modes := make(chan media.MonitorMode, 4)
	leg.media.OnDTMF(func(d rune) {
		if m, ok := MonitorKey(d); ok {
			select {
			case modes <- m:
			default:
			}
		}
	})
	leg.media.Start()
	c.log.Info("monitoring started", "agent", agent, "mode", mode.String())
	s.deps.Metrics.MonitorStarted(mc.id, mode.String())
	for {
		select {
		case m := <-modes:
			if m == mode {
				continue
			}
			now := s.now()
			s.deps.Metrics.MonitorModeTime(mode.String(), now.Sub(since))
			mon.SetMode(m)
			mc.monitorMode(session, m.String(), now)
			s.deps.Metrics.MonitorModeChanged(mc.id, m.String())
			c.log.Info("monitoring mode", "agent", agent, "mode", m.String(), "was", mode.String())
			mode, since = m, now
		case <-mon.Done(): // a leg ended: the monitored call, or the supervisor's media
			c.log.Info("monitoring ended: the call ended", "agent", agent)
			bye()
			return
		case <-mc.ctx.Done():
			c.log.Info("monitoring ended: the call ended", "agent", agent)
			bye()
			return
		case <-c.agentGone: // the supervisor's phone Hotline rang hung up
			c.log.Info("monitoring ended: the supervisor hung up", "agent", agent)
			return
		case <-c.ctx.Done(): // the supervisor hung up, or Hotline stops
			cause := context.Cause(c.ctx)
			c.log.Info("monitoring ended", "agent", agent, "cause", cause)
			if !errors.Is(cause, callflow.ErrCallerHangup) && !errors.Is(cause, callflow.ErrAgentHangup) {
				bye()
			}
			return
		}
	}
}

// monitorStarted notes a monitoring session of c for its record and
// returns its index (for monitorMode and monitorEnded).
func (c *call) monitorStarted(m callflow.Monitoring) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.monitors = append(c.monitors, m)
	return len(c.monitors) - 1
}

// monitorMode notes that session i entered mode at.
func (c *call) monitorMode(i int, mode string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.monitors[i].Modes = append(c.monitors[i].Modes, callflow.ModeChange{Mode: mode, At: at})
}

// monitorEnded notes that session i ended at (unless the call's record
// closed it first).
func (c *call) monitorEnded(i int, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.monitors[i].End.IsZero() {
		c.monitors[i].End = at
	}
}

// monitorSessions is a copy of c's monitoring sessions (c.mu held).
func (c *call) monitorSessions() []callflow.Monitoring {
	if len(c.monitors) == 0 {
		return nil
	}
	out := slices.Clone(c.monitors)
	for i := range out {
		out[i].Modes = slices.Clone(out[i].Modes)
	}
	return out
}

// acceptFeatureCall makes the leg of a feature-code call (its answer not
// sent yet). It answers the INVITE itself when it cannot: 488 without
// usable SDP, 503 without an RTP port, 400 for an INVITE the dialog layer
// refuses.
func (s *Server) acceptFeatureCall(req *sip.Request, tx sip.ServerTransaction) (*Leg, bool) {
	offer, err := sdp.Parse(req.Body())
	var codec audio.Codec
	var dtmf *audio.Codec
	if err == nil {
		codec, dtmf, err = sdp.Negotiate(&offer.Audio, supportedCodecs)
	}
	if err != nil || offer.Audio.Addr.Port() == 0 {
		s.respond(req, tx, 488, "Not Acceptable Here")
		return nil, false
	}
	leg, status, err := s.acceptLeg(req, tx, offer, codec, dtmf)
	if err != nil {
		if status == 503 {
			s.respond(req, tx, status, "Service Unavailable", s.retryAfter())
		} else {
			s.respond(req, tx, status, "Bad Request")
		}
		return nil, false
	}
	return leg, true
}

func (s *Server) refuseMonitor(req *sip.Request, tx sip.ServerTransaction, user, agent string, err error) {
	code, reason := StatusOf(err)
	s.log.Info("monitoring refused", "supervisor", user, "agent", agent, "status", code, "reason", err)
	s.respond(req, tx, code, reason)
}

// agentsCall is the hotline call agent is bridged in, nil if none.
func (s *Server) agentsCall(agent string) *call {
	s.mu.Lock()
	calls := make([]*call, 0, len(s.byID))
	for _, c := range s.byID {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	for _, c := range calls {
		a := c.legOf(RoleAgent)
		c.mu.Lock()
		bridged := !c.bridgedAt.IsZero()
		c.mu.Unlock()
		if a != nil && a.peer == agent && bridged && c.ctx.Err() == nil {
			return c
		}
	}
	return nil
}

// ErrSupervisorUnreachable refuses monitoring through the API when the
// supervisor's phone is not registered or does not answer.
var ErrSupervisorUnreachable = &Refusal{Code: 480, Reason: "Supervisor Unreachable", Err: errors.New("the supervisor's phone is not registered or did not answer")}

// ErrBadMode refuses a monitoring mode other than listen, whisper, barge.
var ErrBadMode = &Refusal{Code: 400, Reason: "Bad Monitoring Mode", Err: errors.New("mode is listen, whisper or barge")}

// supervisorRingTimeout is how long a supervisor's phone rings for a
// monitoring request of the API.
const supervisorRingTimeout = 30 * time.Second

// Monitor is the API's way to monitor call callID: Hotline rings
// supervisor's phone and, once answered, joins it to the call in mode
// (listen, whisper or barge; keys 4/5/6 switch later). It returns once
// the supervisor answered; the monitoring then runs until the call or the
// supervisor's call ends. Refusals: ErrBadMode, ErrNotSupervisor,
// ErrNoSuchCall, ErrNoCallToWatch (no agent bridged yet), ErrMonitorSelf,
// ErrMonitored, ErrSupervisorUnreachable.
func (s *Server) Monitor(ctx context.Context, callID, supervisor, mode string) error {
	m, ok := media.ParseMonitorMode(mode)
	if !ok {
		return ErrBadMode
	}
	if !s.deps.Routing.IsSupervisor(supervisor) {
		return ErrNotSupervisor
	}
	s.mu.Lock()
	mc := s.byID[callID]
	s.mu.Unlock()
	if mc == nil || mc.ctx.Err() != nil {
		return ErrNoSuchCall
	}
	agentLeg := mc.legOf(RoleAgent)
	mc.mu.Lock()
	bridged := !mc.bridgedAt.IsZero()
	mc.mu.Unlock()
	switch {
	case agentLeg == nil || !bridged || mc.caller == nil:
		return ErrNoCallToWatch
	case agentLeg.peer == supervisor:
		return ErrMonitorSelf
	case media.Monitored(mc.caller.media):
		return ErrMonitored // checked again when joining
	}
	// The supervisor's leg belongs to a call of its own (its BYE ends the
	// monitoring only); Hotline rings it as it rings an agent.
	c := &call{s: s, id: mc.id, log: mc.log.With("supervisor", supervisor), hotline: mc.hotline, customer: mc.customer,
		decision: mc.decision, from: mc.from, fromName: mc.fromName, created: mc.created, agentGone: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancelCause(s.runCtx)
	leg, err := c.dial(ctx, supervisor, supervisorRingTimeout)
	if err != nil {
		c.cancel(nil)
		return fmt.Errorf("%w: %w", ErrSupervisorUnreachable, err)
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := leg.cli.Ack(actx); err != nil {
		c.cancel(nil)
		s.unregister(leg.callID)
		_ = leg.media.Close()
		return fmt.Errorf("%w: ACK: %w", ErrSupervisorUnreachable, err)
	}
	leg.acked = true
	mon, err := media.NewMonitor(mc.caller.media, agentLeg.media, leg.media, m)
	if err != nil {
		c.dropAgent(leg)
		c.cancel(nil)
		return ErrMonitored
	}
	c.log = c.log.With("supervisor_call_id", leg.callID)
	s.calls.Add(1)
	go s.runMonitor(mc, c, leg, mon, supervisor, agentLeg.peer, callflow.MonitorViaAPI, m)
	return nil
}
