package sip

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
	"hotline/metrics"
	"hotline/routing/acd"
)

// An attended transfer (RFC 5589 §7) in three steps:
//
//  1. hold: the agent's phone re-INVITEs its leg sendonly or inactive;
//     the caller hears the hold music (hold.go);
//  2. consultation: the same phone calls an agent's username or a queue's
//     transfer number through Hotline (onInternalCall). Hotline offers the
//     consultation through the ACD (that agent only, or the queue's next
//     free agent), rings the target and bridges the agent's new leg with
//     the target's, in a pseudo call of its own (no record, no queue);
//  3. completion: the phone sends REFER in its leg of the caller's call,
//     Refer-To carrying Replaces naming the consultation dialog as the
//     phone sees it (Call-ID, to-tag Hotline's, from-tag the phone's).
//     Hotline answers 202, reports 100 and 200 by NOTIFY, moves the
//     target's leg (no new ringing) into the caller's call, bridges it to
//     the caller and hangs up both of the agent's legs (completeAttended).
//
// If the agent hangs up the consultation instead, the target is hung up
// and the caller stays held until the agent retrieves them.

// consultation is one agent's consultation call while on a hotline call:
// its SIP side (the pseudo call of the agent's and the target's legs);
// its state and policy are callflow's (Consultation).
type consultation struct {
	*callflow.Consultation[*Leg]
	main *call  // the hotline call whose agent consults
	pc   *call  // the pseudo call of the agent's leg and the target's
	leg  *Leg   // the agent's consultation leg (Hotline answered it)
	want Target // who the agent dialled (an agent, or a queue)
}

// Refusals of a consultation call and of the REFER completing it: the
// SIP answers to callflow's attended-transfer policy.
var (
	ErrNoCallToConsult     = &Refusal{Code: 403, Reason: "No Call To Transfer", Err: callflow.ErrNoCallToConsult}
	ErrConsultSelf         = &Refusal{Code: 403, Reason: "Cannot Call Yourself", Err: callflow.ErrConsultSelf}
	ErrNotConsultation     = &Refusal{Code: 403, Reason: "Not Your Consultation", Err: callflow.ErrNotConsultation}
	ErrReferInConsultation = &Refusal{Code: 403, Reason: "Only The Consulting Agent Transfers", Err: callflow.ErrReferInConsultation}
	ErrReplacesRequired    = &Refusal{Code: 403, Reason: "Replaces Required", Err: callflow.ErrReplacesRequired}
)

// attendedRefusal is the Refusal answering err of the attended-transfer
// policy (err itself when it is none of them). A Replaces not naming the
// agent's leg of the held call is 481 (RFC 3891).
func attendedRefusal(err error) error {
	if errors.Is(err, callflow.ErrNoHeldDialog) {
		return ErrNoDialog
	}
	for _, r := range []*Refusal{ErrNoCallToConsult, ErrConsultSelf, ErrNotConsultation, ErrReferInConsultation, ErrReplacesRequired} {
		if errors.Is(err, r.Err) {
			return r
		}
	}
	return err
}

// consultRing bounds how long a consultation to a queue waits for an
// agent (the consulting agent hears ringing meanwhile).
const consultRing = 2 * time.Minute

// onInternalCall handles an INVITE to an agent's username or a queue's
// transfer number (sip.Transfers.Dial): an agent's consultation. It
// reports false, doing nothing, for any other number.
func (s *Server) onInternalCall(req *sip.Request, tx sip.ServerTransaction) bool {
	user := req.Recipient.User
	if _, ok := s.deps.Routing.Hotline(user); ok {
		return false
	}
	d := s.transfers().Dial(user, func(string) bool { return false })
	if d.Kind != DialAgent && d.Kind != DialQueue {
		return false
	}
	s.consult(req, tx, d)
	return true
}

// consult runs a consultation call from its INVITE to its end. The
// INVITE must authenticate as an agent (digest) who is on a hotline call.
func (s *Server) consult(req *sip.Request, tx sip.ServerTransaction, d Dialled) {
	user, ok := s.reg.Authenticate(req, tx)
	if !ok {
		return // answered 401/403
	}
	target := Target{Kind: TargetAgent, Name: d.Agent}
	if d.Kind == DialQueue {
		target = Target{Kind: TargetQueue, Name: d.Queue}
	}
	mc := s.agentsCall(user)
	targetAgent := ""
	if d.Kind == DialAgent {
		targetAgent = d.Agent
	}
	if refusal := attendedRefusal(callflow.CheckConsult(user, mc != nil, targetAgent)); refusal != nil {
		code, reason := StatusOf(refusal)
		s.log.Info("consultation refused", "agent", user, "target", target.String(), "status", code, "reason", refusal)
		s.respond(req, tx, code, reason)
		return
	}
	leg, ok := s.acceptFeatureCall(req, tx) // 488, 503 or 400 answered
	if !ok {
		return
	}
	leg.peer = user
	// The pseudo call shows the target the hotline call's details (its
	// id, the customer, who transfers); it is never listed (no record).
	pc := &call{s: s, log: mc.log.With("consultation_call_id", leg.callID, "by", user),
		transport: mc.transport, caller: leg}
	pc.state.Consults(&mc.state, leg.callID, user) // callflow: what it shows the target, no record
	pc.state.AddLeg(leg)
	pc.ctx, pc.cancel = context.WithCancelCause(s.runCtx)
	defer pc.cancel(nil)
	cons := &consultation{Consultation: callflow.NewConsultation[*Leg](user), main: mc, pc: pc, leg: leg, want: target}
	pc.consult = cons
	s.register(leg.callID, &dialogRef{call: pc, leg: leg})
	s.calls.Add(1)
	defer s.calls.Done()
	go func() { // how a consultation ends is callflow's (ConsultationEnds)
		agentLeft := leg.srv.Context().Done()
		for {
			var cause error
			select {
			case <-agentLeft: // CANCEL or BYE from the agent
				if cause = callflow.ConsultationEnds(true, cons.SemiAttended(), false); cause == nil {
					agentLeft = nil // the target rings on for the held caller
					continue
				}
			case <-mc.ctx.Done(): // the held call ended
				cause = callflow.ConsultationEnds(false, false, true)
			case <-pc.ctx.Done():
				return
			}
			pc.end(cause)
			return
		}
	}()
	if err := leg.srv.Respond(100, "Trying", nil); err != nil {
		pc.log.Debug("100 Trying not sent", "error", err)
	}
	pc.log.Info("consultation", "agent", user, "target", target.String())

	b, qc, err := cons.reach(target)
	if err != nil {
		code, reason := StatusOf(err)
		if pc.ctx.Err() != nil {
			code, reason = callflow.Status(context.Cause(pc.ctx))
		}
		pc.log.Info("consultation not connected", "agent", user, "target", target.String(), "status", code, "reason", err)
		cons.Close() // a semi-attended transfer waiting for the target learns it failed (before the answer waits for an ACK)
		pc.endProvisionals()
		_ = leg.srv.Respond(code, reason, nil)
		s.unregister(leg.callID)
		_ = leg.srv.Close()
		_ = leg.media.Close()
		s.legEnded(leg.media)
		return
	}
	defer func() {
		if !cons.Close() { // the ACD's call stays the hotline call's once handed over
			_ = qc.Hangup() // the target goes to wrap-up
			qc.Close()
		}
	}()
	pc.endProvisionals()
	if cons.SemiAttended() { // the agent completed while the target rang
		cons.semiAnswered(b, qc)
		return
	}
	if err := leg.srv.RespondSDP(leg.localSDP()); err != nil {
		pc.log.Info("consultation not answered", "agent", user, "error", err)
		cons.hangup(callflow.ErrCallerHangup)
		return
	}
	pc.state.NoteAnswered(s.now())
	pc.state.NoteBridged(s.now())
	pc.mu.Lock()
	pc.answered = true
	pc.mu.Unlock()
	leg.media.Start()
	b.media.Start()
	pc.join(leg, b)
	pc.watchAgent(b)
	cons.Connected(b, qc)
	pc.log.Info("consultation connected", "agent", user, "target_agent", b.peer)
	cause := error(nil)
	select {
	case <-pc.ctx.Done(): // the agent or the target hung up, or Hotline stops
	case <-pc.state.AgentGone(): // the target hung up (survey on: agentLeft does not end the call)
		cause = callflow.ErrAgentHangup
	case <-cons.Taken():
		cause = callflow.ErrConsultationDone
	}
	if cause == nil {
		cause = context.Cause(pc.ctx)
	}
	pc.log.Info("consultation ended", "agent", user, "cause", cause)
	cons.hangup(cause)
}

// hangup ends the consultation's pseudo call: each leg still in it is
// hung up (unless its peer hung up: cause) and closed. A target a
// transfer took is no longer one of its legs.
func (cons *consultation) hangup(cause error) {
	pc, s := cons.pc, cons.pc.s
	pc.end(cause)
	var byes sync.WaitGroup
	byeAgent, byeTarget := callflow.ConsultationHangUp(cause)
	for _, l := range pc.allLegs() {
		pc.removeLeg(l)
		if (l.srv != nil && byeAgent) || (l.cli != nil && l.acked && byeTarget) {
			byes.Add(1)
			go func() {
				defer byes.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := l.Bye(ctx); err != nil {
					pc.log.Debug("BYE to "+l.role.String(), "error", err)
				}
			}()
		}
		defer func() {
			s.unregister(l.callID)
			if l.srv != nil {
				_ = l.srv.Close()
			}
			_ = l.media.Close()
			s.legEnded(l.media)
		}()
	}
	byes.Wait()
}

// reach offers the consultation to target through the ACD and rings the
// offered agent(s) until one answers: an agent target once, a queue until
// an agent answers or consultRing passes. It returns the target's
// answered, acknowledged leg (one of the pseudo call's legs) and the
// consultation's ACD call (connected).
func (cons *consultation) reach(target Target) (*Leg, *acd.QueuedCall, error) {
	pc, mc := cons.pc, cons.main
	d := mc.state.Decision()
	req := acd.CallRequest{ID: "consult:" + cons.leg.callID, Queue: d.Queue, Priority: d.Priority, Front: true}
	if target.Kind == TargetAgent {
		req.Agent = target.Name
	} else {
		req.Queue = target.Name
	}
	qc, err := pc.s.deps.ACD.Enqueue(req)
	switch {
	case errors.Is(err, acd.ErrAgentUnavailable), errors.Is(err, acd.ErrQueueFull):
		return nil, nil, refuse(486, "Busy Here", "%w", err)
	case errors.Is(err, acd.ErrQueueEmpty):
		return nil, nil, refuse(480, "Temporarily Unavailable", "%w", err)
	case err != nil:
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(pc.ctx, consultRing)
	defer cancel()
	for {
		off, err := qc.Next(ctx)
		if err != nil {
			qc.Close()
			return nil, nil, refuse(480, "Temporarily Unavailable", "no agent took the consultation: %w", err)
		}
		if b := pc.ringAll(qc, off); b != nil {
			return b, qc, nil
		}
		if target.Kind == TargetAgent || pc.ctx.Err() != nil {
			qc.Close()
			return nil, nil, refuse(480, "Temporarily Unavailable", "%s did not answer", target)
		}
	}
}

// handOver gives the target's leg and ACD call to a transfer, once:
// false when the consultation ended or was handed over already.
func (cons *consultation) handOver() (*Leg, *acd.QueuedCall, bool) {
	return cons.HandOver(func(b *Leg) bool {
		if !cons.pc.hasLeg(b) || cons.pc.ctx.Err() != nil {
			return false
		}
		// Out of the consultation's bridge and legs before its teardown
		// can hang the target up.
		cons.pc.removeLeg(b)
		return true
	})
}

// replacedConsultation returns the consultation r names (checked to be a
// dialog in progress) if agent leg placed it and its target answered.
func (s *Server) replacedConsultation(r Replaces, leg *Leg) (*consultation, Target, error) {
	s.mu.Lock()
	ref := s.table[r.CallID]
	s.mu.Unlock()
	if ref == nil || !r.Matches(ref.leg.DialogID()) {
		return nil, Target{}, ErrNoDialog
	}
	cons := ref.call.consult
	if cons == nil {
		return nil, Target{}, ErrNotConsultation
	}
	rp := callflow.Replaced{AgentLeg: ref.leg == cons.leg, Referrer: leg.peer, OnHeldCall: cons.main.hasLeg(leg)}
	b, err := cons.Replaceable(rp)
	if err != nil {
		if cons.Ringing(rp) == nil { // the target still rings: a semi-attended transfer
			return cons, cons.want, nil
		}
		return nil, Target{}, attendedRefusal(err)
	}
	return cons, Target{Kind: TargetAgent, Name: b.peer}, nil
}

// consultationOf is the consultation a REFER's Replaces names (nil if
// none: checkRefer checked it, but it may have ended since).
func (s *Server) consultationOf(req *sip.Request, leg *Leg) *consultation {
	r, err := ParseRefer(req)
	if err != nil || r.Replaces == nil {
		return nil
	}
	cons, _, err := s.replacedConsultation(*r.Replaces, leg)
	if err != nil {
		return nil
	}
	return cons
}

// completeAttended carries out an attended transfer of the bridged agent
// a (queue loop, queue.go): the consultation's target takes a's place in
// the call: the target's leg (already answered, no new ringing) is
// bridged to the caller, recorded on the agent channel of the same
// recording, and the call's ACD call becomes the consultation's; a's
// leg of the call and of the consultation are hung up and a goes to
// wrap-up. The referrer hears 100 then 200 by NOTIFY. If the
// consultation ended meanwhile, the referrer hears 487 and nothing
// changes (the caller stays held until a retrieves them). It returns the
// call's ACD call and agent leg from here on.
func (c *call) completeAttended(qc *acd.QueuedCall, a *Leg, o transferOrder) (*acd.QueuedCall, *Leg) {
	s := c.s
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case <-o.accepted:
	case <-ctx.Done():
	}
	notify := func(code int, reason string) {
		if err := o.progress.Notify(ctx, code, reason); err != nil {
			c.log.Info("transfer progress not delivered", "agent", o.by, "error", err)
		}
	}
	notify(100, "Trying")
	semi := o.consult.SemiAttended()
	if semi { // the target still rings: the agent leaves now, the caller hears ringing
		var back bool
		if qc, back = c.awaitSemiAttended(qc, a, o, notify); back {
			return qc, nil
		}
	}
	b, next, ok := o.consult.handOver()
	if semi && !ok { // answered, but the held call or the consultation ended meanwhile
		c.log.Info("semi-attended transfer not carried out: the consultation ended", "by", o.by)
		s.deps.Metrics.Transfer(c.ID(), o.kind, metricsTarget(o.target), metrics.TransferFailed)
		return qc, a
	}
	if !ok {
		c.log.Info("attended transfer not carried out: the consultation ended", "by", o.by)
		notify(487, "Request Terminated")
		s.deps.Metrics.Transfer(c.ID(), o.kind, metricsTarget(o.target), metrics.TransferFailed)
		return qc, a
	}
	s.register(b.callID, &dialogRef{call: c, leg: b})
	if !semi { // (a semi-attended transfer's agent left already)
		c.detachAgent() // a leaves the call (and its bridge, if not held)
		_ = qc.Hangup() // a goes to wrap-up
		qc.Close()
	}
	c.addLeg(b)
	c.join(c.caller, b) // stops the hold music
	// b is the last agent from here on: CSAT is credited to them.
	c.noteTransfer(func(st *callflow.TransferState) { st.Attended(o.record(), b.peer) })
	c.startRecording(b.peer, b) // the agent channel goes on with the target
	c.watchAgent(b)
	if !semi {
		notify(200, "OK")
	}
	o.consult.Transferred() // the consultation hangs the agent's leg up (after the NOTIFY, which may go in it)
	s.deps.Metrics.Transfer(c.ID(), o.kind, metricsTarget(o.target), metrics.TransferCompleted)
	if !semi {
		if err := a.cli.Bye(ctx); err != nil {
			c.log.Info("transferring agent's leg not hung up cleanly", "agent", o.by, "error", err)
		}
	}
	c.log.Info("transferred", "by", o.by, "kind", o.kind, "target", o.target.String(), "agent", b.peer)
	return next, b
}

// referInConsultation answers a REFER sent in a consultation (refer_server.go
// hands it over): some phones complete an attended transfer by REFERring
// the consultation's target to the held call, Replaces naming the held
// call's dialog (the agent's leg, as Hotline's INVITE made it). It is
// carried out as the usual direction is (completeAttended), the
// progress NOTIFYs going in the consultation.
func (s *Server) referInConsultation(req *sip.Request, tx sip.ServerTransaction, cons *consultation, leg *Leg) {
	mc, kind := cons.main, metrics.TransferAttended
	target := Target{Kind: TargetAgent}
	refused := func(err error) {
		code, reason := StatusOf(err)
		mc.log.Info("transfer refused", "agent", leg.peer, "status", code, "reason", err)
		s.deps.Metrics.Transfer(mc.ID(), kind, metricsTarget(target), metrics.TransferRefused)
		s.respond(req, tx, code, reason)
	}
	var r Refer
	if leg == cons.leg {
		var err error
		if r, err = ParseRefer(req); err != nil {
			refused(err)
			return
		}
	}
	a := mc.legOf(RoleAgent)
	b, err := cons.ReferableInside(callflow.ReferInside{FromAgent: leg == cons.leg, Replaces: r.Replaces != nil,
		NamesHeldLeg: r.Replaces != nil && a != nil && a.peer == cons.Agent() && r.Replaces.Matches(a.DialogID())})
	if err != nil {
		refused(attendedRefusal(err))
		return
	}
	target.Name = b.peer
	o := transferOrder{target: target, kind: kind, by: cons.Agent(), leg: a, at: s.now(), accepted: make(chan struct{}),
		consult: cons, progress: NewReferProgress(leg.srv, req, false)}
	if err := mc.orderTransfer(o); err != nil {
		refused(err)
		return
	}
	mc.log.Info("transfer accepted", "agent", cons.Agent(), "target", target.String(), "kind", kind, "in", "consultation")
	if err := tx.Respond(ReferAccepted(req)); err != nil {
		mc.log.Info("202 to the REFER not sent", "agent", cons.Agent(), "error", err)
	}
	close(o.accepted)
}

// semiAnswered hands the target who answered a consultation the agent
// completed while it rang (semi-attended) to the held call, whose
// completeAttended waits for it: the agent's consultation INVITE is
// ended (487; nothing if the agent cancelled it), and once the held call
// took the target, or ended, the consultation is torn down.
func (cons *consultation) semiAnswered(b *Leg, qc *acd.QueuedCall) {
	pc := cons.pc
	if err := cons.leg.srv.Respond(487, "Request Terminated", nil); err != nil {
		pc.log.Debug("487 to the agent's consultation not sent", "error", err)
	}
	b.media.Start()
	cons.Connected(b, qc)
	pc.log.Info("consultation answered: the held caller takes the target (semi-attended transfer)", "target_agent", b.peer)
	cause := callflow.ErrConsultationDone
	select {
	case <-cons.Taken():
	case <-pc.ctx.Done(): // the held call ended, or Hotline stops
		cause = context.Cause(pc.ctx)
	}
	pc.log.Info("consultation ended", "agent", cons.Agent(), "cause", cause)
	cons.hangup(cause)
}

// semiAttendedRing bounds how long a semi-attended transfer waits for
// the consultation's target to answer (the consultation's own ringing
// is bounded by consultRing).
const semiAttendedRing = consultRing + 5*time.Second

// awaitSemiAttended carries out the first half of a semi-attended
// transfer (completeAttended): agent a leaves the call at once (told 200
// by NOTIFY, hung up, in wrap-up) and the caller hears ringback until
// the consultation's target answers. It returns once the target answered
// (back false: completeAttended bridges them), or, when the
// consultation ended or rang past semiAttendedRing without an answer,
// with the caller back in the queue they came from, first in line (back
// true, the call's ACD call from here on). A call that ended meanwhile,
// or could not be queued again (then it ends), returns qc, back true.
func (c *call) awaitSemiAttended(qc *acd.QueuedCall, a *Leg, o transferOrder, notify func(int, string)) (*acd.QueuedCall, bool) {
	s := c.s
	c.detachAgent() // a leaves the call
	_ = qc.Hangup() // a goes to wrap-up
	qc.Close()
	notify(200, "OK")
	s.calls.Add(1)
	go func() {
		defer s.calls.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.cli.Bye(ctx); err != nil {
			c.log.Info("transferring agent's leg not hung up cleanly", "agent", o.by, "error", err)
		}
	}()
	c.caller.media.Play(ringbackSource())
	c.log.Info("semi-attended transfer: the caller waits for the ringing target", "by", o.by, "target", o.target.String())
	timer := time.NewTimer(semiAttendedRing)
	defer timer.Stop()
	select {
	case <-o.consult.Answered():
		return qc, false
	case <-c.ctx.Done():
		return qc, true
	case <-o.consult.Over():
	case <-timer.C:
	}
	select { // answered as it ended: the target is the call's
	case <-o.consult.Answered():
		return qc, false
	default:
	}
	var from string
	c.noteTransfer(func(st *callflow.TransferState) { from = st.Blind(o.record(), "") })
	req := c.state.Request(c.ID())
	c.log.Info("semi-attended transfer's target did not answer: the caller goes back to their queue, first in line",
		"by", o.by, "target", o.target.String(), "queue", from)
	next, err := callflow.BackInLine(scriptCall{c}, req, from)
	if err != nil {
		s.deps.Metrics.Transfer(c.ID(), o.kind, metricsTarget(o.target), metrics.TransferFailed)
		c.end(fmt.Errorf("semi-attended transfer to %s failed, and back to queue %s: %w", o.target, from, err))
		return qc, true // closed; the call ended
	}
	s.deps.Metrics.Transfer(c.ID(), o.kind, metricsTarget(o.target), metrics.TransferReturned)
	return next, true
}
