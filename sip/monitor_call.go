package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
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
	if err := callflow.CheckMonitor(user, agent, s.deps.Routing.IsSupervisor, nil); err != nil {
		s.refuseMonitor(req, tx, user, agent, err)
		return
	}
	mc := s.agentsCall(agent)
	var err error
	if mc == nil {
		err = callflow.ErrNoCallToWatch
	} else {
		err = callflow.CheckMonitor(user, agent, s.deps.Routing.IsSupervisor, mc.watched())
	}
	if err != nil {
		s.refuseMonitor(req, tx, user, agent, err)
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
		s.refuseMonitor(req, tx, user, agent, callflow.ErrNoCallToWatch)
		return
	}
	mon, err := media.NewMonitor(callerLeg.media, agentLeg.media, leg.media, mediaMode(callflow.MonitorListen))
	if err != nil { // monitored meanwhile
		_ = leg.srv.Close()
		_ = leg.media.Close()
		s.refuseMonitor(req, tx, user, agent, callflow.ErrMonitored)
		return
	}
	// The supervisor's dialog has a call of its own in the dialog table
	// (its BYE ends the monitoring, not the monitored call); it is not a
	// hotline call (no record, no queue).
	c := &call{s: s, log: mc.log.With("supervisor", user, "supervisor_call_id", leg.callID), caller: leg}
	c.state.Started(callflow.Identity{ID: leg.callID})
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
	s.runMonitor(mc, c, leg, mon, user, agent, callflow.MonitorViaCode, callflow.MonitorListen)
}

// runMonitor runs a supervisor's monitoring of mc until the call or the
// supervisor's leg (of the pseudo call c) ends (callflow.Monitor: keys,
// modes, the record in mc's monitors, metrics), then cleans up. via is
// callflow.MonitorViaCode or MonitorViaAPI. It owns leg, c and one
// s.calls count.
func (s *Server) runMonitor(mc, c *call, leg *Leg, mon *media.Monitor, user, agent, via string, mode callflow.MonitorMode) {
	defer func() {
		mon.Stop()
		c.cancel(nil)
		s.unregister(leg.callID)
		if leg.srv != nil {
			_ = leg.srv.Close()
		} else {
			_ = leg.cli.Close()
		}
		_ = leg.media.Close()
		s.calls.Done()
	}()
	sess := &monitorSession{c: c, leg: leg, mon: mon, keys: make(chan rune, 4), gone: make(chan struct{})}
	leg.media.OnDTMF(func(d rune) {
		select {
		case sess.keys <- d:
		default:
		}
	})
	go func() { // the supervisor's leg ends on its own
		select {
		case <-c.state.AgentGone(): // the supervisor's phone Hotline rang hung up
			sess.hungUp.Store(true)
		case <-c.ctx.Done(): // the supervisor hung up, or Hotline stops
			cause := context.Cause(c.ctx)
			sess.hungUp.Store(errors.Is(cause, callflow.ErrCallerHangup) || errors.Is(cause, callflow.ErrAgentHangup))
		case <-mon.Done():
			return
		}
		close(sess.gone)
	}()
	leg.media.Start()
	_ = callflow.Monitor(callflow.MonitorRun{CallID: mc.ID(), Call: mc.ctx, Log: &mc.state.Monitors, Supervisor: user,
		Agent: agent, Via: via, Mode: mode, Now: s.now, Metrics: s.deps.Metrics}, sess)
}

// monitorSession is a supervisor's leg joined to a call by the media
// mixer (callflow.MonitorSession).
type monitorSession struct {
	c      *call // the supervisor's pseudo call
	leg    *Leg
	mon    *media.Monitor
	keys   chan rune
	gone   chan struct{}
	hungUp atomic.Bool
}

func (m *monitorSession) Log() *slog.Logger                 { return m.c.log }
func (m *monitorSession) Keys() <-chan rune                 { return m.keys }
func (m *monitorSession) SetMode(mode callflow.MonitorMode) { m.mon.SetMode(mediaMode(mode)) }
func (m *monitorSession) MediaDone() <-chan struct{}        { return m.mon.Done() }
func (m *monitorSession) Gone() <-chan struct{}             { return m.gone }
func (m *monitorSession) HungUp() bool                      { return m.hungUp.Load() }

// HangUp sends the supervisor BYE.
func (m *monitorSession) HangUp() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.leg.Bye(ctx)
}

// watched is c as the monitoring policy checks it.
func (c *call) watched() *callflow.Watched {
	var w callflow.Watched
	a := c.legOf(RoleAgent)
	c.mu.Lock()
	w.Bridged = c.caller != nil
	c.mu.Unlock()
	w.Bridged = w.Bridged && c.state.Bridged()
	if a != nil {
		w.Agent = a.peer
	}
	w.Monitored = c.caller != nil && media.Monitored(c.caller.media)
	return &w
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
	err = monitorRefusal(err)
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
		bridged := c.state.Bridged()
		if a != nil && a.peer == agent && bridged && c.ctx.Err() == nil {
			return c
		}
	}
	return nil
}

// ErrSupervisorUnreachable refuses monitoring through the API when the
// supervisor's phone is not registered or does not answer.
var ErrSupervisorUnreachable = &Refusal{Code: 480, Reason: "Supervisor Unreachable", Err: errors.New("the supervisor's phone is not registered or did not answer")}

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
	m, ok := callflow.ParseMonitorMode(mode)
	if !ok {
		return ErrBadMode
	}
	if err := callflow.CheckMonitor(supervisor, "", s.deps.Routing.IsSupervisor, nil); err != nil {
		return monitorRefusal(err)
	}
	s.mu.Lock()
	mc := s.byID[callID]
	s.mu.Unlock()
	if mc == nil || mc.ctx.Err() != nil {
		return ErrNoSuchCall
	}
	// Monitored is checked again when joining.
	if err := callflow.CheckMonitor(supervisor, "", s.deps.Routing.IsSupervisor, mc.watched()); err != nil {
		return monitorRefusal(err)
	}
	agentLeg := mc.legOf(RoleAgent)
	if agentLeg == nil || mc.caller == nil {
		return ErrNoCallToWatch
	}
	// The supervisor's leg belongs to a call of its own (its BYE ends the
	// monitoring only); Hotline rings it as it rings an agent.
	c := &call{s: s, log: mc.log.With("supervisor", supervisor)}
	c.state.Supervises(&mc.state) // rung as an agent is, with the call's details; no record
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
	mon, err := media.NewMonitor(mc.caller.media, agentLeg.media, leg.media, mediaMode(m))
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
