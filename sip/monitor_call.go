package sip

import (
	"context"
	"errors"
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
	callID := leg.callID
	c := &call{s: s, id: callID, log: mc.log.With("supervisor", user, "supervisor_call_id", callID), caller: leg, agentGone: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancelCause(s.runCtx)
	defer c.cancel(nil)
	s.register(callID, &dialogRef{call: c, leg: leg})
	s.calls.Add(1)
	mode, since := media.Listen, s.now()
	defer func() {
		mon.Stop()
		s.deps.Metrics.MonitorModeTime(mode.String(), s.now().Sub(since))
		s.unregister(callID)
		_ = leg.srv.Close()
		_ = leg.media.Close()
		s.calls.Done()
	}()
	modes := make(chan media.MonitorMode, 4)
	leg.media.OnDTMF(func(d rune) {
		if m, ok := MonitorKey(d); ok {
			select {
			case modes <- m:
			default:
			}
		}
	})
	if err := leg.srv.RespondSDP(leg.localSDP()); err != nil {
		return
	}
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
			c.log.Info("monitoring mode", "agent", agent, "mode", m.String(), "was", mode.String())
			mode, since = m, now
		case <-mon.Done(): // the monitored call ended
			c.log.Info("monitoring ended: the call ended", "agent", agent)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = leg.Bye(ctx)
			return
		case <-c.ctx.Done(): // the supervisor hung up, or Hotline stops
			cause := context.Cause(c.ctx)
			c.log.Info("monitoring ended", "agent", agent, "cause", cause)
			if !errors.Is(cause, callflow.ErrCallerHangup) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = leg.Bye(ctx)
			}
			return
		case <-mc.ctx.Done():
			c.log.Info("monitoring ended: the call ended", "agent", agent)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = leg.Bye(ctx)
			return
		}
	}
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
