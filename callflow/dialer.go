package sip

// The callback dialer: agent-first callbacks. Every few seconds the due
// callbacks of the CallbackStore are claimed and queued in the ACD like
// calls; when an agent is offered one, the agent's phone rings (the same
// ringAll/dial/take as inbound calls), the agent hears two beeps and a
// ringback tone while Hotline calls the customer through the outbound
// gateway, then both are bridged (media anchored, recorded: customer left,
// agent right) and a call record with Direction "callback" is written.
//
// Only the numbers of stored callbacks are dialled, and only numbers (+
// and digits, within sip.outbound.allowed_prefixes): nothing an agent or a
// caller sends reaches the gateway's Request-URI.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
	"hotline/metrics"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"hotline/sip/media"
)

// Causes of a callback that did not reach its customer.
var (
	errDialerStopped = errors.New("callback dialer stopped")
	errNoAgent       = errors.New("no agent within the queue's maximum wait")
)

// customerError is a callback's customer not reached: result is one of
// the metrics.Callback* results.
type customerError struct {
	result string
	err    error
}

func (e *customerError) Error() string {
	return fmt.Sprintf("customer not reached (%s): %v", e.result, e.err)
}

func (e *customerError) Unwrap() error { return e.err }

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

// DialerOptions are what a Dialer needs besides the Server.
type DialerOptions struct {
	// Store holds the callbacks to place (required).
	Store *callbacks.Store
	// Window says when customers may be called (schedule, quiet hours);
	// nil: at any time.
	Window *callbacks.Window
	// Log defaults to the server's.
	Log *slog.Logger
}

// Dialer places the callbacks of a store through the server's outbound
// gateway (Config.Outbound). It holds no state of its own beyond its
// configuration: what is due, claimed or done is in the store.
type Dialer struct {
	s      *Server
	cfg    Outbound
	store  *callbacks.Store
	window *callbacks.Window
	log    *slog.Logger
	gwHost string
	gwPort int
}

// NewDialer builds the dialer of a server whose configuration has an
// outbound gateway.
func (s *Server) NewDialer(o DialerOptions) (*Dialer, error) {
	cfg := s.cfg.Outbound
	if !cfg.Enabled() {
		return nil, errors.New("sip: callback dialer: sip.outbound.gateway is not set")
	}
	if o.Store == nil {
		return nil, errors.New("sip: callback dialer: no callback store")
	}
	if o.Log == nil {
		o.Log = s.log
	}
	host, port, err := net.SplitHostPort(cfg.Gateway)
	if err != nil {
		return nil, fmt.Errorf("sip: outbound.gateway: %w", err)
	}
	pn, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("sip: outbound.gateway: bad port %q", port)
	}
	return &Dialer{s: s, cfg: cfg, store: o.Store, window: o.Window, log: o.Log.With("component", "dialer"),
		gwHost: host, gwPort: pn}, nil
}

// Run looks for due callbacks every sip.outbound.interval, and places
// them, until ctx ends. The server must be started. When ctx ends,
// callbacks still waiting for an agent are released (due again, no
// attempt counted) and those with an agent go on; Server.Shutdown drains
// them. Cancel ctx before calling Shutdown.
func (d *Dialer) Run(ctx context.Context) {
	if d.s.runCtx == nil {
		d.log.Error("callback dialer not started: the SIP server is not running")
		return
	}
	d.log.Info("callback dialer started", "gateway", d.cfg.Gateway, "transport", d.cfg.Transport, "from", d.cfg.From,
		"interval", d.cfg.Interval)
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		d.tick(ctx)
		select {
		case <-ctx.Done():
			d.log.Info("callback dialer stopped")
			return
		case <-t.C:
		}
	}
}

// tick claims and starts every callback due now that may be placed now.
func (d *Dialer) tick(ctx context.Context) {
	s := d.s
	now := s.now()
	for _, cb := range d.store.Due(now) {
		if ctx.Err() != nil || s.draining.Load() {
			return
		}
		if s.active.Load() >= int64(s.cfg.MaxCalls) {
			d.log.Warn("callbacks wait: the maximum number of calls is in progress", "max_calls", s.cfg.MaxCalls)
			return
		}
		d.consider(ctx, cb, now)
	}
}

// consider checks a due callback (number, calling hours) and, if it may
// be placed now, claims it and places it in the background.
func (d *Dialer) consider(ctx context.Context, cb callbacks.Callback, now time.Time) {
	log := d.log.With("callback", cb.ID, "queue", cb.Queue)
	if !dialable(cb.Number) {
		d.fail(log, cb, metrics.CallbackFailInvalidNumber)
		return
	}
	if !d.allowed(cb.Number) {
		d.fail(log, cb, metrics.CallbackFailNotAllowed)
		return
	}
	cust := directory.Unknown(cb.Number)
	if lookup := d.s.deps.Customers; lookup != nil {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cust = lookup(lctx, cb.Number)
		cancel()
	}
	if d.window != nil {
		next, ok := d.window.Next(cb.Queue, cust.QuietHours, now)
		if !ok {
			d.fail(log, cb, metrics.CallbackFailNoTime)
			return
		}
		if next.After(now) {
			if err := d.store.Retry(cb.ID, next, ""); err != nil {
				log.Error("callback not postponed", "error", err)
				return
			}
			log.Info("callback postponed to the calling hours (schedule, quiet hours)", "due", next)
			return
		}
	}
	claimed, err := d.store.Claim(cb.ID)
	if err != nil {
		return // taken or finished meanwhile
	}
	d.s.calls.Add(1)
	go func() {
		defer d.s.calls.Done()
		d.place(ctx, claimed, cust)
	}()
}

// allowed applies sip.outbound.allowed_prefixes.
func (d *Dialer) allowed(number string) bool {
	if len(d.cfg.AllowedPrefixes) == 0 {
		return true
	}
	for _, p := range d.cfg.AllowedPrefixes {
		if strings.HasPrefix(number, p) {
			return true
		}
	}
	return false
}

// fail gives a callback up, loudly: logged, counted, listed as failed.
func (d *Dialer) fail(log *slog.Logger, cb callbacks.Callback, reason string) {
	why := reason
	if reason == metrics.CallbackFailAttempts && cb.LastResult != "" {
		why = cb.LastResult
	}
	if err := d.store.Fail(cb.ID, why); err != nil {
		log.Error("failed callback not marked failed", "error", err)
		return
	}
	d.s.deps.Metrics.CallbackFailed(cb.Queue, cb.Kind, reason)
	log.Warn("callback failed: the customer will not be called", "reason", reason, "last_result", cb.LastResult,
		"attempts", cb.Attempts, "number", cb.Number)
}

// release puts a callback that did not get to its customer back, due at
// at; no attempt was counted.
func (d *Dialer) release(log *slog.Logger, cb callbacks.Callback, at time.Time, why error) {
	if err := d.store.Retry(cb.ID, at, ""); err != nil {
		log.Error("callback not released", "error", err)
		return
	}
	log.Info("callback released", "due", at, "reason", why)
}

// retryAt is when to try a callback again after its attempt-th
// unsuccessful attempt: the retry delay, doubled for each further
// attempt, within the calling hours.
func (d *Dialer) retryAt(cb callbacks.Callback, cust directory.Customer, from time.Time) (time.Time, bool) {
	delay := d.cfg.RetryDelay
	for i := 1; i < cb.Attempts && delay < d.cfg.MaxRetryDelay; i++ {
		delay *= 2
	}
	at := from.Add(min(delay, d.cfg.MaxRetryDelay))
	if d.window == nil {
		return at, true
	}
	return d.window.Next(cb.Queue, cust.QuietHours, at)
}

// newCall builds the call of a callback: not listed with the calls until
// an agent has answered.
func (d *Dialer) newCall(cb callbacks.Callback, cust directory.Customer) *call {
	s := d.s
	id := "callback-" + strconv.FormatUint(rand.Uint64(), 36) + "@hotline"
	hl, ok := s.deps.Routing.Hotline(d.cfg.From)
	if !ok {
		hl = config.Hotline{Number: d.cfg.From}
	}
	name := "Callback"
	if cust.Name != "" {
		name += " " + cust.Name
	}
	c := &call{
		s:          s,
		id:         id,
		log:        s.log.With("call_id", id, "callback", cb.ID),
		hotline:    hl,
		customer:   cust,
		decision:   rules.Decision{Action: config.ActionQueue, Queue: cb.Queue, Priority: cb.Priority},
		from:       cb.Number,
		fromName:   name,
		transport:  d.cfg.Transport,
		created:    s.now(),
		direction:  callflow.DirectionCallback,
		callbackID: cb.ID,
		agentGone:  make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancelCause(s.runCtx)
	return c
}

// place is one attempt of a claimed callback: queue for an agent, ring
// the agent, call the customer, bridge; then settle the callback in the
// store (completed, retry later, failed).
func (d *Dialer) place(dctx context.Context, cb callbacks.Callback, cust directory.Customer) {
	s := d.s
	c := d.newCall(cb, cust)
	log := c.log.With("queue", cb.Queue)
	defer c.cancel(nil)
	qc, err := s.deps.ACD.Enqueue(acd.CallRequest{ID: c.id, Queue: cb.Queue, Priority: cb.Priority,
		Customer: cust, Arrived: cb.Arrived})
	switch {
	case errors.Is(err, acd.ErrUnknownQueue):
		d.fail(log, cb, metrics.CallbackFailUnknownQueue)
		return
	case err != nil:
		d.release(log, cb, s.now().Add(d.cfg.RetryDelay), fmt.Errorf("queueing the callback: %w", err))
		return
	}
	defer qc.Close()
	log.Info("callback queued", "kind", cb.Kind, "attempts", cb.Attempts, "arrived", cb.Arrived)

	a, err := d.waitAgent(dctx, c, qc)
	if err != nil {
		at := cb.Due
		if errors.Is(err, errNoAgent) {
			at = s.now().Add(d.cfg.RetryDelay)
		}
		d.release(log, cb, at, err)
		return
	}
	cbNow, err := d.talk(c, a, cb)
	c.closeWith(callflow.ErrAgentHangup)
	var nd *notDialledError
	if errors.As(err, &nd) {
		// The customer was not called (outside the calling hours by now,
		// the agent left at once, no media port): no attempt is counted.
		at := nd.at
		if at.IsZero() {
			at = s.now().Add(d.cfg.RetryDelay)
		}
		d.release(log, cb, at, err)
		return
	}
	d.settle(log, cbNow, cust, err)
}

// notDialledError is a callback that ended before its customer was
// called; at, when set, is when it may be tried again.
type notDialledError struct {
	err error
	at  time.Time
}

func (e *notDialledError) Error() string { return "customer not called: " + e.err.Error() }
func (e *notDialledError) Unwrap() error { return e.err }

// waitAgent waits in the queue until an agent answers the callback: each
// offer rings its agents (ringAll), unanswered offers put the callback
// back at its place. It ends when the dialer stops (errDialerStopped),
// with the queue's maximum wait (errNoAgent) or the call's end.
func (d *Dialer) waitAgent(dctx context.Context, c *call, qc *acd.QueuedCall) (*Leg, error) {
	wctx, cancel := context.WithCancelCause(c.ctx)
	defer cancel(nil)
	stop := context.AfterFunc(dctx, func() { cancel(errDialerStopped) })
	defer stop()
	for {
		off, err := qc.Next(wctx)
		switch {
		case errors.Is(err, acd.ErrMaxWait):
			return nil, errNoAgent
		case err != nil && wctx.Err() != nil:
			return nil, context.Cause(wctx)
		case err != nil:
			return nil, err
		}
		if a := c.ringAll(qc, off); a != nil {
			return a, nil
		}
	}
}

// Agent prompts: two short beeps ("a callback"), then a ringback tone
// while the customer is called; a busy tone when the customer was not
// reached.
func callbackWhisper() media.Source {
	return &thenSource{first: media.NewTone([]float64{880}, 150*time.Millisecond, 100*time.Millisecond, 0.3),
		left: 8000 * 500 / 1000, then: ringbackSource()}
}

func notReachedTone() media.Source {
	return media.NewTone([]float64{425}, 250*time.Millisecond, 250*time.Millisecond, 0.3)
}

// thenSource plays first for left samples, then then.
type thenSource struct {
	first, then media.Source
	left        int
}

func (t *thenSource) Read(samples []int16) {
	if t.left <= 0 {
		t.then.Read(samples)
		return
	}
	n := min(t.left, len(samples))
	t.first.Read(samples[:n])
	t.left -= n
	if n < len(samples) {
		t.then.Read(samples[n:])
	}
}

// talk connects an agent who answered a callback with its customer: the
// call is listed, the agent hears the whisper and ringback while the
// customer is called through the gateway (the attempt counted first);
// once the customer answers both are bridged and recorded until either
// hangs up. It returns the callback as counted, and a *customerError
// when the customer was not reached or a *notDialledError when they were
// not called.
func (d *Dialer) talk(c *call, a *Leg, cb callbacks.Callback) (callbacks.Callback, error) {
	s := d.s
	cust, err := s.newLeg(RoleCustomer, cb.Number)
	if err != nil {
		c.end(err)
		return cb, &notDialledError{err: err}
	}
	c.mu.Lock()
	c.caller, c.agentName = cust, a.peer // the agent took the callback
	c.legs = append([]*Leg{cust}, c.legs...)
	c.mu.Unlock()
	s.active.Add(1)
	s.mu.Lock()
	s.byID[c.id] = c
	s.mu.Unlock()

	// The agent: whisper and ringback; hanging up ends the callback.
	a.media.Start()
	a.media.Play(callbackWhisper())
	c.watchAgent(a)
	if isClosed(c.agentGone) || c.ctx.Err() != nil {
		return cb, &notDialledError{err: callflow.ErrAgentHangup}
	}
	// The callback may have waited for its agent past closing time or
	// into quiet hours: the customer is only called within them.
	if d.window != nil {
		now := s.now()
		next, ok := d.window.Next(cb.Queue, c.customer.QuietHours, now)
		if !ok || next.After(now) {
			if !ok {
				next = now.Add(d.cfg.RetryDelay) // then fails as no_time in consider
			}
			c.log.Info("outside the calling hours by now: the customer is not called", "agent", a.peer, "due", next)
			c.playFor(a.media, notReachedTone(), 1500*time.Millisecond)
			err := errors.New("outside the calling hours")
			c.end(err)
			return cb, &notDialledError{err: err, at: next}
		}
	}
	counted, err := d.store.Dialing(cb.ID, c.id)
	if err != nil {
		err = fmt.Errorf("callback store: %w", err)
		c.end(err)
		return cb, &notDialledError{err: err}
	}
	cb = counted
	c.log.Info("agent took the callback; calling the customer", "agent", a.peer, "number", cb.Number,
		"attempt", cb.Attempts, "gateway", d.cfg.Gateway)

	ringCtx, stopRing := context.WithCancelCause(c.ctx)
	defer stopRing(nil)
	go func() {
		select {
		case <-c.agentGone:
			stopRing(callflow.ErrAgentHangup)
		case <-ringCtx.Done():
		}
	}()
	dlg, err := s.ringOut(ringCtx, d.customerInvite(c, cust, a))
	if err != nil {
		result := customerResult(err)
		var re *refusedError
		if errors.As(err, &re) {
			err = fmt.Errorf("the gateway answered %d %s", re.code, re.reason)
		}
		err = &customerError{result: result, err: err}
		c.log.Info("customer not reached", "error", err)
		if c.ctx.Err() == nil && !isClosed(c.agentGone) {
			c.playFor(a.media, notReachedTone(), 1500*time.Millisecond)
		}
		c.end(err)
		return cb, err
	}
	if err := cust.takeAnswer(); err != nil {
		c.log.Warn("customer's answer has no usable SDP", "error", err)
		cust.acked = true // acknowledged and hung up by finish
		ackCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = dlg.Ack(ackCtx)
		cancel()
		err = &customerError{result: metrics.CallbackError, err: fmt.Errorf("customer SDP: %w", err)}
		c.end(err)
		return cb, err
	}
	cust.media.OnDTMF(func(k rune) { c.log.Info("customer pressed a key", "digit", string(k)) })
	ackCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err = dlg.Ack(ackCtx)
	cancel()
	cust.acked = true
	if err != nil {
		err = &customerError{result: metrics.CallbackError, err: fmt.Errorf("ACK to the customer: %w", err)}
		c.end(err)
		return cb, err
	}
	c.mu.Lock()
	c.answered, c.answeredAt = true, s.now()
	c.mu.Unlock()
	cust.media.Start()
	c.join(cust, a)
	c.mu.Lock()
	c.bridgedAt, c.agentName = s.now(), a.peer
	c.mu.Unlock()
	c.startRecording(a.peer, a)
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	if rec != nil {
		_ = rec.SetExtra("direction", callflow.DirectionCallback)
		_ = rec.SetExtra("callback_id", cb.ID)
	}
	c.log.Info("callback connected", "agent", a.peer, "customer_codec", cust.Codec().Name, "agent_codec", a.Codec().Name,
		"wait", s.now().Sub(c.created).Round(time.Millisecond))
	go func() {
		select {
		case <-dlg.Context().Done():
			c.end(callflow.ErrCustomerHangup)
		case <-cust.media.Done():
			if cust.media.Err() != nil {
				c.end(callflow.ErrCallerTimeout)
			}
		case <-c.ctx.Done():
		}
	}()
	select {
	case <-c.ctx.Done():
	case <-c.agentGone:
		c.end(callflow.ErrAgentHangup)
	}
	return cb, nil
}

// customerInvite builds the INVITE to the customer through the gateway:
// sip:<number>@<gateway>, From the configured number, with the callback
// call's Call-ID, offering the agent's codec first.
func (d *Dialer) customerInvite(c *call, cust *Leg, a *Leg) invite {
	s := d.s
	target := sip.Uri{Scheme: "sip", User: cust.peer, Host: d.gwHost, Port: d.gwPort}
	ua, req := s.inviteFor(cust, outboundInvite{target: target, to: target, transport: d.cfg.Transport,
		user: d.cfg.From, name: c.hotline.Name, callID: c.id, prefer: a.Codec()})
	return invite{ua: ua, req: req, timeout: d.cfg.RingTimeout, user: d.cfg.Username, password: d.cfg.Password,
		sent: func(dlg *sipgo.DialogClientSession) {
			cust.cli = dlg
			cust.callID = c.id
			s.register(c.id, &dialogRef{call: c, leg: cust})
			c.log.Info("calling the customer", "number", cust.peer, "gateway", d.cfg.Gateway)
		},
		cleanup: func() { s.unregister(c.id) },
	}
}

// customerResult classifies why the customer was not reached.
func customerResult(err error) string {
	var re *refusedError
	switch {
	case errors.As(err, &re):
		switch {
		case re.code == 486 || re.code == 600:
			return metrics.CallbackBusy
		case re.code == 603:
			return metrics.CallbackDeclined
		case re.code == 480 || re.code == 408 || re.code == 487:
			return metrics.CallbackNoAnswer
		case re.code == 404 || re.code == 410 || re.code == 484 || re.code == 604 || re.code >= 500:
			return metrics.CallbackUnreachable
		}
		return metrics.CallbackError
	case errors.Is(err, errNoAnswer):
		return metrics.CallbackNoAnswer
	case errors.Is(err, callflow.ErrAgentHangup), errors.Is(err, callflow.ErrAgentTimeout):
		return metrics.CallbackAbandoned
	case errors.Is(err, callflow.ErrShutdown), errors.Is(err, context.Canceled):
		return metrics.CallbackError
	}
	// No final response (timer B), or the INVITE could not be sent.
	return metrics.CallbackUnreachable
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// playFor plays src to a leg for d, or until the call ends or its agent
// leaves.
func (c *call) playFor(l *media.Leg, src media.Source, d time.Duration) {
	l.Play(src)
	defer l.Play(nil)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
	case <-c.agentGone:
	}
}

// settle records a callback attempt's outcome: completed, retried later
// (with backoff, within the calling hours) or, after the last allowed
// attempt, failed.
func (d *Dialer) settle(log *slog.Logger, cb callbacks.Callback, cust directory.Customer, err error) {
	m := d.s.deps.Metrics
	if err == nil {
		m.CallbackAttempt(cb.Queue, cb.Kind, metrics.CallbackAnswered)
		if err := d.store.Complete(cb.ID); err != nil {
			log.Error("completed callback not marked completed", "error", err)
		}
		m.CallbackCompleted(cb.Queue, cb.Kind)
		log.Info("callback completed", "attempts", cb.Attempts)
		return
	}
	result := metrics.CallbackError
	var ce *customerError
	if errors.As(err, &ce) {
		result = ce.result
	}
	m.CallbackAttempt(cb.Queue, cb.Kind, result)
	cb.LastResult = result
	if cb.Attempts >= d.cfg.MaxAttempts {
		d.fail(log, cb, metrics.CallbackFailAttempts)
		return
	}
	next, ok := d.retryAt(cb, cust, d.s.now())
	if !ok {
		d.fail(log, cb, metrics.CallbackFailNoTime)
		return
	}
	if err := d.store.Retry(cb.ID, next, result); err != nil {
		log.Error("callback not scheduled again", "error", err)
		return
	}
	log.Info("callback to be tried again", "result", result, "attempts", cb.Attempts, "max_attempts", d.cfg.MaxAttempts,
		"due", next)
}
