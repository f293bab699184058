package sip

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
	"hotline/routing/acd"
	"hotline/sip/sdp"
)

// Blind transfers to an outside number: an agent's REFER (or the API)
// names a number within sip.outbound.allowed_prefixes (Transfers.Resolve
// and Check refuse any other, 403, before anything is accepted). Hotline
// takes the agent off the call, calls the number through the outbound
// gateway (gateway.go; the same INVITE as a callback's) while the caller
// hears ringback, and on answer bridges the caller with the outside
// party: media stays anchored in Hotline, the call keeps its id and its
// recording (the outside party on the agent channel). If the outside
// party does not answer, is busy or the gateway fails, the caller goes
// back to the queue they came from, first in line, as after a transfer
// to an agent who did not take the call.

// outsideDial is how the INVITE through the gateway ended (err nil:
// answered with usable SDP), for the outside-transfer policy
// (callflow.OutsideOutcome).
func outsideDial(err error) callflow.OutsideDial {
	var re *refusedError
	switch {
	case err == nil:
		return callflow.OutsideDial{Answered: true}
	case errors.As(err, &re):
		return callflow.OutsideDial{Status: re.code, Reason: re.reason}
	case errors.Is(err, errNoAnswer):
		return callflow.OutsideDial{NoAnswer: true}
	case errors.Is(err, errNoUsableSDP):
		return callflow.OutsideDial{NoUsableSDP: true}
	}
	return callflow.OutsideDial{}
}

// referNotifier sends a transfer's progress NOTIFYs one at a time (a
// provisional may come from the ringing INVITE's goroutine); nothing for
// a transfer through the API.
type referNotifier struct {
	c  *call
	o  transferOrder
	mu sync.Mutex
}

func (n *referNotifier) notify(code int, reason string) {
	if n.o.progress == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.o.progress.Notify(ctx, code, reason); err != nil {
		n.c.log.Info("transfer progress not delivered", "agent", n.o.by, "error", err)
	}
}

// transferOut carries out a blind transfer of the bridged agent a to an
// outside number (queue loop, through transfer): the referrer hears 100
// Trying, 180 Ringing once the far end rings, then the outcome
// (outsideResultOf), and is hung up (BYE); the agent goes to wrap-up at
// once. On answer the call goes on with the outside party until either
// side hangs up, and transferOut returns only then, with the call's end
// cause; otherwise it returns the call queued again, or the cause of a
// call that ended meanwhile.
func (c *call) transferOut(qc *acd.QueuedCall, a *Leg, o transferOrder) (*acd.QueuedCall, error) {
	s := c.s
	accepted := time.NewTimer(5 * time.Second)
	select {
	case <-o.accepted:
	case <-accepted.C:
	}
	accepted.Stop()
	n := &referNotifier{c: c, o: o}
	n.notify(100, "Trying")
	c.detachAgent() // unbridged: the caller hears ringback
	_ = qc.Hangup() // the agent goes to wrap-up
	qc.Close()
	// done tells the referrer the outcome, then hangs the agent's leg
	// up, in the background: an agent's phone that already hung up
	// itself must not hold the caller up for the BYE's timeout.
	done := func(code int, reason string) {
		s.calls.Add(1)
		go func() {
			defer s.calls.Done()
			n.notify(code, reason)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := a.cli.Bye(ctx); err != nil {
				c.log.Info("transferring agent's leg not hung up cleanly", "agent", o.by, "error", err)
			}
		}()
	}

	var from string
	c.noteTransfer(func(st *callflow.TransferState) { from = st.Blind(o.record(), "") })
	c.log.Info("transferring to an outside number", "by", o.by, "kind", o.kind, "number", o.target.Name,
		"gateway", s.cfg.Outbound.Gateway)

	c.caller.media.Play(ringbackSource())
	var ringing sync.Once
	out, err := c.ringOutside(o.target.Name, func() {
		ringing.Do(func() {
			s.calls.Add(1)
			go func() {
				defer s.calls.Done()
				n.notify(180, "Ringing")
			}()
		})
	})
	if out != nil { // the call's from here on: torn down with it
		c.addLeg(out)
	}
	res := callflow.OutsideOutcome(outsideDial(err), c.ctx.Err() != nil)
	if res.Outcome == callflow.TransferCompleted {
		c.bridgeOutside(out)
	}
	if res.Back {
		c.log.Info("outside number not reached: the caller goes back to their queue, first in line",
			"by", o.by, "number", o.target.Name, "queue", from, "status", res.Code, "error", err)
	}
	req := c.state.Request(c.ID())
	next, res, qerr := callflow.OutsideDone(scriptCall{c}, o.kind, res, req, from)
	done(res.Code, res.Reason)
	switch {
	case qerr != nil:
		return nil, fmt.Errorf("transfer to %s: %w", o.target, qerr)
	case next != nil:
		return next, nil
	case res.Outcome == callflow.TransferCompleted:
		c.log.Info("transferred", "by", o.by, "kind", o.kind, "target", o.target.String())
	default:
		c.log.Info("transfer to an outside number abandoned: the call ended while it rang", "by", o.by,
			"number", o.target.Name, "cause", context.Cause(c.ctx))
	}
	<-c.ctx.Done() // talking with the outside party, until either hangs up
	return nil, context.Cause(c.ctx)
}

// ringOutside calls number through the outbound gateway, offering the
// caller's codec first, until it answers with usable SDP (its 200 OK
// acknowledged), fails, rings past sip.outbound.ring_timeout or the call
// ends. ringing is called for each 101-199 response. On failure nothing
// of the leg is left.
func (c *call) ringOutside(number string, ringing func()) (*Leg, error) {
	s := c.s
	host, port, err := gatewayHostPort(s.cfg.Outbound.Gateway)
	if err != nil {
		return nil, err
	}
	out, err := s.newLeg(RoleOutside, number)
	if err != nil {
		return nil, err
	}
	inv := s.gatewayInvite(c, out, host, port, "", c.caller.Codec())
	early := &earlyMedia{c: c, out: out}
	unregister := inv.cleanup
	inv.cleanup = func() {
		unregister()
		early.stop() // the caller no longer hears the far end
		_ = out.media.Close()
	}
	inv.ringing = ringing
	inv.early = early.take
	dlg, err := s.ringOut(c.ctx, inv)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	early.answered() // from here on the bridge is bridgeOutside's
	if err := out.takeAnswer(); err != nil {
		c.log.Warn("outside party's answer has no usable SDP", "number", number, "error", err)
		_ = dlg.Ack(ctx)
		_ = dlg.Bye(ctx)
		c.split(out)
		inv.cleanup()
		return nil, fmt.Errorf("outside party's answer: %w", err)
	}
	if err := dlg.Ack(ctx); err != nil {
		_ = dlg.Bye(ctx)
		inv.cleanup()
		return nil, fmt.Errorf("ACK to the outside party: %w", err)
	}
	out.acked = true
	out.media.OnDTMF(func(d rune) { c.log.Info("outside party pressed a key", "digit", string(d)) })
	return out, nil
}

// bridgeOutside connects the caller with the outside party who answered:
// media relayed both ways, the outside party recorded on the agent
// channel of the call's recording, the call ended when the outside
// party hangs up or its media stops.
func (c *call) bridgeOutside(out *Leg) {
	out.media.Start()
	if !c.joined(c.caller, out) { // joined already for early media
		c.join(c.caller, out)
	}
	c.state.NoteOutside(out.peer)
	c.startRecording("", out) // with the outside number (callflow.Call.Record)
	c.log.Info("bridged with the outside party", "number", out.peer, "caller_codec", c.caller.Codec().Name,
		"outside_codec", out.Codec().Name)
	go func() {
		select {
		case <-out.cli.Context().Done():
			c.end(callflow.ErrOutsideHangup)
		case <-out.media.Done():
			if out.media.Err() != nil {
				c.end(callflow.ErrOutsideTimeout)
			}
		case <-c.ctx.Done():
		}
	}()
}

// earlyMedia relays an outside party's early media (a 101-199 response
// with SDP, e.g. 183 Session Progress with the far end's ringback or an
// announcement) to the caller instead of Hotline's ringback, while the
// outside number rings: the outside leg is bridged with the caller from
// the first usable early SDP. If the INVITE fails the bridge is undone
// (stop) and the caller goes back to their queue as without early media.
type earlyMedia struct {
	c   *call
	out *Leg

	mu     sync.Mutex
	joined bool // the caller hears the far end
	over   bool // answered or failed: no early media any more
}

// take handles a provisional response with a body.
func (e *earlyMedia) take(r *sip.Response) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.joined || e.over || e.c.ctx.Err() != nil {
		return
	}
	if err := e.out.takeSDP(r.Body()); err != nil {
		e.c.log.Info("outside party's early media not usable: the caller keeps hearing ringback",
			"number", e.out.peer, "status", r.StatusCode, "error", err)
		return
	}
	// Early RTP may pause or stop before the answer: while it rings
	// (bounded by ring_timeout) the leg has the hold timeout, not the
	// media timeout; the 200's SDP sets it back (takeAnswer).
	e.out.media.SetHold(true)
	e.out.media.Start()
	e.c.join(e.c.caller, e.out) // stops the ringback
	e.joined = true
	e.c.log.Info("early media from the outside party: the caller hears it", "number", e.out.peer,
		"status", r.StatusCode, "outside_codec", e.out.Codec().Name)
}

// answered ends early media: the outside party answered.
func (e *earlyMedia) answered() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.over = true
}

// stop ends early media and undoes its bridge (the INVITE failed).
func (e *earlyMedia) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.over = true
	if e.joined {
		e.joined = false
		e.c.split(e.out)
	}
}

// takeSDP applies an early SDP answer (a provisional response's) to the
// outside leg, as takeAnswer does the 200's: errNoUsableSDP when it has
// no codec in common or no media address.
func (l *Leg) takeSDP(body []byte) error {
	ans, err := sdp.Parse(body)
	if err != nil {
		return fmt.Errorf("%w: %w", errNoUsableSDP, err)
	}
	codec, dtmf, err := sdp.Negotiate(&ans.Audio, supportedCodecs)
	if err != nil {
		return fmt.Errorf("%w: %w", errNoUsableSDP, err)
	}
	if ans.Audio.Addr.Port() == 0 {
		return fmt.Errorf("%w: no media address", errNoUsableSDP)
	}
	l.setNegotiated(&ans.Audio, codec, dtmf)
	return nil
}
