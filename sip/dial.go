package sip

// The SIP side of the callback dialer (callflow.Dialer): the INVITE
// Hotline places (ringOut, also to agents' phones), the customer's leg
// through the outbound gateway, and the callback's call as the dialer
// sees it (callflow.CallbackLine, callflow.CallbackCall).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
)

// invite is an INVITE Hotline places: to an agent's phone, or for a
// callback to the customer through the gateway.
type invite struct {
	ua      *sipgo.DialogUA
	req     *sip.Request
	timeout time.Duration // how long the far end may ring
	// user and password answer a digest challenge (gateways).
	user, password string
	// sent is called once the INVITE is out, with its dialog: put its
	// Call-ID in the call table there.
	sent func(*sipgo.DialogClientSession)
	// ringing, when set, is called for each 101-199 response.
	ringing func()
	// early, when set, is called for each 101-199 response with a body
	// (early media's SDP, e.g. 183 Session Progress).
	early func(*sip.Response)
	// answered, when set, is called when a 2xx reaches the dialog (before
	// ringOut returns, on another goroutine: what it writes is read after
	// ringOut returned).
	answered func()
	// cleanup undoes sent when the INVITE fails. It runs once a 200 that
	// crossed the CANCEL has been acknowledged and hung up, which may be
	// after ringOut returned.
	cleanup func()
}

// cancelGrace is how long, after giving up on an INVITE the far end has
// not answered at all, Hotline waits for a provisional response so it can
// CANCEL (a phone that answers late would otherwise ring on): a few UDP
// retransmissions (T1 = 500 ms), short enough not to hold the leg's RTP
// port long for a phone that is gone.
const cancelGrace = 2 * time.Second

// ringOut sends an INVITE and waits until it is answered, refused (a
// *refusedError), rings past its timeout (errNoAnswer) or ctx ends (its
// cause). On success dlg.InviteResponse is the 200, not acknowledged yet.
// Giving up CANCELs the INVITE when the far end said anything (else it is
// dropped quietly), and a 200 that crosses the CANCEL is acknowledged and
// hung up in the background.
func (s *Server) ringOut(ctx context.Context, inv invite) (*sipgo.DialogClientSession, error) {
	// ringCtx is cancelled when the INVITE is settled: at once once
	// answered, else by the background goroutine below (its cause tells
	// WaitAnswer whether to CANCEL).
	ringCtx, cancelRing := context.WithCancelCause(context.Background())
	dlg, err := inv.ua.WriteInvite(ringCtx, inv.req)
	if err != nil {
		cancelRing(nil)
		inv.cleanup()
		return nil, fmt.Errorf("sending INVITE: %w", err)
	}
	inv.sent(dlg)

	var provisional sync.Once
	gotProvisional := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- dlg.WaitAnswer(ringCtx, sipgo.AnswerOptions{Username: inv.user, Password: inv.password,
			OnResponse: func(r *sip.Response) error {
				// Any provisional, 100 Trying included, allows a CANCEL
				// (RFC 3261 §9.1); only 101-199 mean the phone rings.
				if r.IsProvisional() {
					provisional.Do(func() { close(gotProvisional) })
				}
				if r.StatusCode > 100 && r.StatusCode < 200 && inv.ringing != nil {
					inv.ringing()
				}
				if r.StatusCode > 100 && r.StatusCode < 200 && inv.early != nil && len(r.Body()) > 0 {
					inv.early(r)
				}
				if r.IsSuccess() && inv.answered != nil {
					inv.answered()
				}
				return nil
			}})
	}()
	timer := time.NewTimer(inv.timeout)
	defer timer.Stop()
	var answerErr error
	finished := false // WaitAnswer has returned
	select {
	case answerErr = <-result:
		finished = true
	case <-timer.C:
		answerErr = errNoAnswer
	case <-ctx.Done():
		answerErr = context.Cause(ctx)
	}
	if answerErr == nil {
		cancelRing(nil)
		return dlg, nil
	}
	// Give up: CANCEL the INVITE. RFC 3261 §9.1 allows a CANCEL only once
	// the phone has said something; until then it is sent as soon as a
	// provisional arrives (a phone that only starts ringing after Hotline
	// gave up would otherwise ring on), and the INVITE is dropped quietly
	// when nothing comes within cancelGrace.
	select {
	case <-gotProvisional:
		cancelRing(answerErr)
	default:
	}
	// The CANCEL may race with a 200 OK: wait for WaitAnswer to finish in
	// the background and hang up anything that got answered.
	s.calls.Add(1)
	go func() {
		defer s.calls.Done()
		if !finished {
			quiet := time.NewTimer(cancelGrace)
			defer quiet.Stop()
			select {
			case <-gotProvisional:
				cancelRing(answerErr)
			case <-result:
				finished = true // a final response came first
			case <-quiet.C:
				cancelRing(sipgo.WaitAnswerForceCancelErr)
			}
		}
		if !finished {
			<-result
		}
		cancelRing(nil)
		if r := dlg.InviteResponse; r != nil && r.IsSuccess() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = dlg.Ack(ctx)
			_ = dlg.Bye(ctx)
		}
		inv.cleanup()
	}()
	var dr *sipgo.ErrDialogResponse
	if errors.As(answerErr, &dr) {
		return nil, &refusedError{code: dr.Res.StatusCode, reason: dr.Res.Reason}
	}
	return nil, answerErr
}

// callbackLine is the server's side of the callback dialer: its calls go
// through the outbound gateway (Config.Outbound).
type callbackLine struct {
	s      *Server
	cfg    Outbound
	gwHost string
	gwPort int
}

// CallbackLine is the SIP side of a callflow.Dialer: the callbacks' calls
// of a server whose configuration has an outbound gateway.
func (s *Server) CallbackLine() (callflow.CallbackLine, error) {
	cfg := s.cfg.Outbound
	if !cfg.Enabled() {
		return nil, errors.New("sip: callback dialer: sip.outbound.gateway is not set")
	}
	host, port, err := net.SplitHostPort(cfg.Gateway)
	if err != nil {
		return nil, fmt.Errorf("sip: outbound.gateway: %w", err)
	}
	pn, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("sip: outbound.gateway: bad port %q", port)
	}
	return &callbackLine{s: s, cfg: cfg, gwHost: host, gwPort: pn}, nil
}

// DialerConfig is the dialer's part of the outbound section.
func (o Outbound) DialerConfig() callflow.DialerConfig {
	return callflow.DialerConfig{Interval: o.Interval, RetryDelay: o.RetryDelay, MaxRetryDelay: o.MaxRetryDelay,
		MaxAttempts: o.MaxAttempts, AllowedPrefixes: o.AllowedPrefixes, Gateway: o.Gateway, Transport: o.Transport,
		From: o.From}
}

// Started reports whether the server runs.
func (l *callbackLine) Started() bool { return l.s.runCtx != nil }

// Now is the server's clock.
func (l *callbackLine) Now() time.Time { return l.s.now() }

// Go runs f in the background; Shutdown waits for it.
func (l *callbackLine) Go(f func()) {
	l.s.calls.Add(1)
	go func() {
		defer l.s.calls.Done()
		f()
	}()
}

// Admit says whether a callback may start now.
func (l *callbackLine) Admit() error {
	s := l.s
	switch {
	case s.runCtx == nil:
		return errors.New("the SIP server is not running")
	case s.draining.Load():
		return callflow.ErrShutdown
	case s.active.Load() >= int64(s.cfg.MaxCalls):
		return fmt.Errorf("the maximum number of calls (%d) is in progress", s.cfg.MaxCalls)
	}
	return nil
}

// NewCallback builds the call of a callback: not listed with the calls
// until an agent has answered.
func (l *callbackLine) NewCallback(p callflow.CallbackPlan) callflow.CallbackCall {
	s := l.s
	id := "callback-" + strconv.FormatUint(rand.Uint64(), 36) + "@hotline"
	hl := s.deps.Routes.CallbackHotline(l.cfg.From)
	c := &call{
		s:         s,
		log:       s.log.With("call_id", id, "callback", p.ID),
		transport: l.cfg.Transport,
	}
	c.state.Started(callflow.Identity{ID: id, Direction: callflow.DirectionCallback,
		Caller: p.Number, CallerName: p.Name, Arrived: s.now()})
	c.state.RouteCallback(hl, p)
	c.ctx, c.cancel = context.WithCancelCause(s.runCtx)
	return &callbackCall{call: c, line: l}
}

// callbackCall is a callback's call as the dialer sees it.
type callbackCall struct {
	*call
	line *callbackLine
}

func (c *callbackCall) Log() *slog.Logger          { return c.log }
func (c *callbackCall) Context() context.Context   { return c.ctx }
func (c *callbackCall) End(cause error)            { c.end(cause) }
func (c *callbackCall) Close(cause error)          { c.closeWith(cause) }
func (c *callbackCall) AgentGone() <-chan struct{} { return c.state.AgentGone() }

// RingAgents rings the agents of an offer (ringAll).
func (c *callbackCall) RingAgents(qc *callflow.QueuedCall, off callflow.Offer) callflow.Leg {
	if a := c.ringAll(qc, off); a != nil {
		return a
	}
	return nil
}

// OpenCustomer opens the media of the customer's leg.
func (c *callbackCall) OpenCustomer(number string) (callflow.Leg, error) {
	l, err := c.s.newLeg(RoleCustomer, number)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Take lists the call with its agent and customer legs; the agent's
// media starts and its hang-up is watched.
func (c *callbackCall) Take(customer, agent callflow.Leg) {
	s := c.s
	cust, a := customer.(*Leg), agent.(*Leg)
	c.mu.Lock()
	c.caller = cust
	c.mu.Unlock()
	c.state.AddFirstLeg(cust)
	c.state.NoteAgent(a.peer) // the agent took the callback
	s.active.Add(1)
	s.mu.Lock()
	s.byID[c.ID()] = c.call
	s.mu.Unlock()
	a.media.Start()
	c.watchAgent(a)
}

// Dial calls the customer through the gateway and takes their answer.
func (c *callbackCall) Dial(ctx context.Context, customer, agent callflow.Leg) error {
	cust, a := customer.(*Leg), agent.(*Leg)
	dlg, err := c.s.ringOut(ctx, c.line.customerInvite(c.call, cust, a))
	if err != nil {
		var re *refusedError
		switch {
		case errors.As(err, &re):
			return &callflow.Refused{Code: re.code, Reason: re.reason}
		case errors.Is(err, errNoAnswer):
			return callflow.ErrNoAnswer
		}
		return err
	}
	if err := cust.takeAnswer(); err != nil {
		c.log.Warn("customer's answer has no usable SDP", "error", err)
		cust.acked = true // acknowledged and hung up by closeWith
		ackCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = dlg.Ack(ackCtx)
		cancel()
		return fmt.Errorf("%w: customer SDP: %w", callflow.ErrBadAnswer, err)
	}
	cust.media.OnDTMF(func(k rune) { c.log.Info("customer pressed a key", "digit", string(k)) })
	ackCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = dlg.Ack(ackCtx)
	cancel()
	cust.acked = true
	if err != nil {
		return fmt.Errorf("%w: ACK to the customer: %w", callflow.ErrBadAnswer, err)
	}
	return nil
}

// Connect bridges the customer who answered with the agent and records
// them; the call ends when the customer hangs up.
func (c *callbackCall) Connect(customer, agent callflow.Leg) {
	s := c.s
	cust, a := customer.(*Leg), agent.(*Leg)
	c.state.NoteAnswered(s.now())
	c.mu.Lock()
	c.answered = true
	c.mu.Unlock()
	cust.media.Start()
	c.join(cust, a)
	c.state.NoteBridged(s.now())
	c.state.NoteAgent(a.peer)
	c.startRecording(a.peer, a) // marked as a callback's (callflow.Call.Record)
	c.log.Info("callback connected", "agent", a.peer, "customer_codec", cust.Codec().Name, "agent_codec", a.Codec().Name,
		"wait", s.now().Sub(c.state.Identity().Arrived).Round(time.Millisecond))
	callflow.WatchLeg(c, cust, callflow.ErrCustomerHangup, callflow.ErrCallerTimeout)
}

// customerInvite builds the INVITE to the customer through the gateway:
// sip:<number>@<gateway>, From the configured number, with the callback
// call's Call-ID, offering the agent's codec first.
func (l *callbackLine) customerInvite(c *call, cust *Leg, a *Leg) invite {
	return l.s.gatewayInvite(c, cust, l.gwHost, l.gwPort, c.ID(), a.Codec())
}
