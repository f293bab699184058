package callflow

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
//
// The dialer is the script; the SIP side (the call's legs, ringing the
// agents, the INVITE to the gateway) is behind CallbackLine and
// CallbackCall (sip.Server.CallbackLine).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"hotline/audio"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/directory"
)

// Causes of a callback that did not reach its customer.
var (
	errDialerStopped = errors.New("callback dialer stopped")
	errNoAgent       = errors.New("no agent within the queue's maximum wait")
)

// DialerConfig is the dialer's part of sip.outbound.
type DialerConfig struct {
	// Interval between looks for due callbacks.
	Interval time.Duration
	// RetryDelay after an unsuccessful attempt, doubled for each further
	// one up to MaxRetryDelay.
	RetryDelay, MaxRetryDelay time.Duration
	// MaxAttempts before a callback fails.
	MaxAttempts int
	// AllowedPrefixes are the numbers that may be called (empty: any).
	AllowedPrefixes []string
	// Gateway, Transport and From describe the gateway in logs.
	Gateway, Transport, From string
}

// DialerOptions are what a Dialer needs.
type DialerOptions struct {
	// Line is the SIP side (required).
	Line CallbackLine
	// Config is sip.outbound's dialer part.
	Config DialerConfig
	// Store holds the callbacks to place (required).
	Store CallbackStore
	// Window says when customers may be called (schedule, quiet hours);
	// nil: at any time.
	Window *callbacks.Window
	// ACD queues the callbacks for an agent (required).
	ACD *acd.ACD
	// Customers identifies a callback's customer by number; nil: unknown.
	Customers func(ctx context.Context, number string) directory.Customer
	// Metrics counts callbacks; nil counts none.
	Metrics CallbackMetrics
	// Log defaults to discarding.
	Log *slog.Logger
}

// Dialer places the callbacks of a store through the server's outbound
// gateway (Config.Outbound). It holds no state of its own beyond its
// configuration: what is due, claimed or done is in the store.
type Dialer struct {
	line      CallbackLine
	cfg       DialerConfig
	store     CallbackStore
	window    *callbacks.Window
	acd       *acd.ACD
	customers func(ctx context.Context, number string) directory.Customer
	metrics   CallbackMetrics
	log       *slog.Logger
}

type noMetrics struct{}

func (noMetrics) CallbackAttempt(queue, kind, result string) {}
func (noMetrics) CallbackCompleted(queue, kind string)       {}
func (noMetrics) CallbackFailed(queue, kind, reason string)  {}

// NewDialer builds the dialer of a server whose configuration has an
// outbound gateway.
func NewDialer(o DialerOptions) (*Dialer, error) {
	if o.Line == nil || o.ACD == nil {
		return nil, errors.New("callflow: callback dialer: no SIP line or ACD")
	}
	if o.Store == nil {
		return nil, errors.New("callflow: callback dialer: no callback store")
	}
	if o.Config.Interval <= 0 || o.Config.MaxAttempts <= 0 {
		return nil, errors.New("callflow: callback dialer: interval and max_attempts must be positive")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	return &Dialer{line: o.Line, cfg: o.Config, store: o.Store, window: o.Window, acd: o.ACD, customers: o.Customers,
		metrics: o.Metrics, log: o.Log.With("component", "dialer")}, nil
}

// Run looks for due callbacks every sip.outbound.interval, and places
// them, until ctx ends. The server must be started. When ctx ends,
// callbacks still waiting for an agent are released (due again, no
// attempt counted) and those with an agent go on; Server.Shutdown drains
// them. Cancel ctx before calling Shutdown.
func (d *Dialer) Run(ctx context.Context) {
	if !d.line.Started() {
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
	now := d.line.Now()
	for _, cb := range d.store.Due(now) {
		if ctx.Err() != nil {
			return
		}
		if err := d.line.Admit(); err != nil {
			if !errors.Is(err, ErrShutdown) { // draining: no new call, quietly
				d.log.Warn("callbacks wait", "reason", err)
			}
			return
		}
		d.consider(ctx, cb, now)
	}
}

// consider checks a due callback (number, calling hours) and, if it may
// be placed now, claims it and places it in the background.
func (d *Dialer) consider(ctx context.Context, cb callbacks.Callback, now time.Time) {
	log := d.log.With("callback", cb.ID, "queue", cb.Queue)
	if !Dialable(cb.Number) {
		d.fail(log, cb, CallbackFailInvalidNumber)
		return
	}
	if !d.allowed(cb.Number) {
		d.fail(log, cb, CallbackFailNotAllowed)
		return
	}
	cust := directory.Unknown(cb.Number)
	if lookup := d.customers; lookup != nil {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cust = lookup(lctx, cb.Number)
		cancel()
	}
	if d.window != nil {
		next, ok := d.window.Next(cb.Queue, cust.QuietHours, now)
		if !ok {
			d.fail(log, cb, CallbackFailNoTime)
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
	d.line.Go(func() { d.place(ctx, claimed, cust) })
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
	if reason == CallbackFailAttempts && cb.LastResult != "" {
		why = cb.LastResult
	}
	if err := d.store.Fail(cb.ID, why); err != nil {
		log.Error("failed callback not marked failed", "error", err)
		return
	}
	d.metrics.CallbackFailed(cb.Queue, cb.Kind, reason)
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

// place is one attempt of a claimed callback: queue for an agent, ring
// the agent, call the customer, bridge; then settle the callback in the
// store (completed, retry later, failed).
func (d *Dialer) place(dctx context.Context, cb callbacks.Callback, cust directory.Customer) {
	c := d.line.NewCallback(NewCallbackPlan(cb, cust))
	log := c.Log().With("queue", cb.Queue)
	defer c.End(nil)
	qc, err := d.acd.Enqueue(acd.CallRequest{ID: c.ID(), Queue: cb.Queue, Priority: cb.Priority,
		Customer: cust, Arrived: cb.Arrived})
	switch {
	case errors.Is(err, acd.ErrUnknownQueue):
		d.fail(log, cb, CallbackFailUnknownQueue)
		return
	case err != nil:
		d.release(log, cb, d.line.Now().Add(d.cfg.RetryDelay), fmt.Errorf("queueing the callback: %w", err))
		return
	}
	defer qc.Close()
	log.Info("callback queued", "kind", cb.Kind, "attempts", cb.Attempts, "arrived", cb.Arrived)

	a, err := d.waitAgent(dctx, c, queued(qc))
	if err != nil {
		at := cb.Due
		if errors.Is(err, errNoAgent) {
			at = d.line.Now().Add(d.cfg.RetryDelay)
		}
		d.release(log, cb, at, err)
		return
	}
	cbNow, err := d.talk(c, a, cb, cust)
	c.Close(ErrAgentHangup)
	var nd *notDialledError
	if errors.As(err, &nd) {
		// The customer was not called (outside the calling hours by now,
		// the agent left at once, no media port): no attempt is counted.
		at := nd.at
		if at.IsZero() {
			at = d.line.Now().Add(d.cfg.RetryDelay)
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

// customerError is a callback's customer not reached: result is one of
// the Callback* results.
type customerError struct {
	result string
	err    error
}

func (e *customerError) Error() string {
	return fmt.Sprintf("customer not reached (%s): %v", e.result, e.err)
}

func (e *customerError) Unwrap() error { return e.err }

// waitAgent waits in the queue until an agent answers the callback: each
// offer rings its agents (RingAgents), unanswered offers put the callback
// back at its place. It ends when the dialer stops (errDialerStopped),
// with the queue's maximum wait (errNoAgent) or the call's end.
func (d *Dialer) waitAgent(dctx context.Context, c CallbackCall, qc *QueuedCall) (Leg, error) {
	wctx, cancel := context.WithCancelCause(c.Context())
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
		if a := c.RingAgents(qc, off); a != nil {
			return a, nil
		}
	}
}

// Agent prompts: two short beeps ("a callback"), then a ringback tone
// while the customer is called; a busy tone when the customer was not
// reached.
func callbackWhisper() audio.Reader {
	return &thenSource{first: audio.NewTone([]float64{880}, 150*time.Millisecond, 100*time.Millisecond, 0.3),
		left: 8000 * 500 / 1000, then: ringbackTone()}
}

// ringbackTone is the ETSI ringing tone (425 Hz 1 s on 4 s off).
func ringbackTone() audio.Reader {
	return audio.NewTone([]float64{425}, time.Second, 4*time.Second, 0.3)
}

func notReachedTone() audio.Reader {
	return audio.NewTone([]float64{425}, 250*time.Millisecond, 250*time.Millisecond, 0.3)
}

// thenSource plays first for left samples, then then.
type thenSource struct {
	first, then audio.Reader
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
func (d *Dialer) talk(c CallbackCall, a Leg, cb callbacks.Callback, customer directory.Customer) (callbacks.Callback, error) {
	cust, err := c.OpenCustomer(cb.Number)
	if err != nil {
		c.End(err)
		return cb, &notDialledError{err: err}
	}
	// The agent: whisper and ringback; hanging up ends the callback.
	c.Take(cust, a)
	a.Play(callbackWhisper())
	if isClosed(c.AgentGone()) || c.Context().Err() != nil {
		return cb, &notDialledError{err: ErrAgentHangup}
	}
	// The callback may have waited for its agent past closing time or
	// into quiet hours: the customer is only called within them.
	if d.window != nil {
		now := d.line.Now()
		next, ok := d.window.Next(cb.Queue, customer.QuietHours, now)
		if !ok || next.After(now) {
			if !ok {
				next = now.Add(d.cfg.RetryDelay) // then fails as no_time in consider
			}
			c.Log().Info("outside the calling hours by now: the customer is not called", "agent", a.Peer(), "due", next)
			playFor(c, a, notReachedTone(), 1500*time.Millisecond)
			err := errors.New("outside the calling hours")
			c.End(err)
			return cb, &notDialledError{err: err, at: next}
		}
	}
	counted, err := d.store.Dialing(cb.ID, c.ID())
	if err != nil {
		err = fmt.Errorf("callback store: %w", err)
		c.End(err)
		return cb, &notDialledError{err: err}
	}
	cb = counted
	c.Log().Info("agent took the callback; calling the customer", "agent", a.Peer(), "number", cb.Number,
		"attempt", cb.Attempts, "gateway", d.cfg.Gateway)

	ringCtx, stopRing := context.WithCancelCause(c.Context())
	defer stopRing(nil)
	go func() {
		select {
		case <-c.AgentGone():
			stopRing(ErrAgentHangup)
		case <-ringCtx.Done():
		}
	}()
	if err := c.Dial(ringCtx, cust, a); err != nil {
		result, answered := customerResult(err), errors.Is(err, ErrBadAnswer)
		var re *Refused
		if errors.As(err, &re) {
			err = fmt.Errorf("the gateway answered %d %s", re.Code, re.Reason)
		}
		err = &customerError{result: result, err: err}
		c.Log().Info("customer not reached", "error", err)
		if !answered && c.Context().Err() == nil && !isClosed(c.AgentGone()) {
			playFor(c, a, notReachedTone(), 1500*time.Millisecond)
		}
		c.End(err)
		return cb, err
	}
	c.Connect(cust, a)
	select {
	case <-c.Context().Done():
	case <-c.AgentGone():
		c.End(ErrAgentHangup)
	}
	return cb, nil
}

// customerResult classifies why the customer was not reached.
func customerResult(err error) string {
	var re *Refused
	switch {
	case errors.As(err, &re):
		switch {
		case re.Code == 486 || re.Code == 600:
			return CallbackBusy
		case re.Code == 603:
			return CallbackDeclined
		case re.Code == 480 || re.Code == 408 || re.Code == 487:
			return CallbackNoAnswer
		case re.Code == 404 || re.Code == 410 || re.Code == 484 || re.Code == 604 || re.Code >= 500:
			return CallbackUnreachable
		}
		return CallbackError
	case errors.Is(err, ErrNoAnswer):
		return CallbackNoAnswer
	case errors.Is(err, ErrBadAnswer):
		return CallbackError
	case errors.Is(err, ErrAgentHangup), errors.Is(err, ErrAgentTimeout):
		return CallbackAbandoned
	case errors.Is(err, ErrShutdown), errors.Is(err, context.Canceled):
		return CallbackError
	}
	// No final response (timer B), or the INVITE could not be sent.
	return CallbackUnreachable
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
func playFor(c CallbackCall, l Leg, src audio.Reader, d time.Duration) {
	l.Play(src)
	defer l.Play(nil)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.Context().Done():
	case <-c.AgentGone():
	}
}

// settle records a callback attempt's outcome: completed, retried later
// (with backoff, within the calling hours) or, after the last allowed
// attempt, failed.
func (d *Dialer) settle(log *slog.Logger, cb callbacks.Callback, cust directory.Customer, err error) {
	m := d.metrics
	if err == nil {
		m.CallbackAttempt(cb.Queue, cb.Kind, CallbackAnswered)
		if err := d.store.Complete(cb.ID); err != nil {
			log.Error("completed callback not marked completed", "error", err)
		}
		m.CallbackCompleted(cb.Queue, cb.Kind)
		log.Info("callback completed", "attempts", cb.Attempts)
		return
	}
	result := CallbackError
	var ce *customerError
	if errors.As(err, &ce) {
		result = ce.result
	}
	m.CallbackAttempt(cb.Queue, cb.Kind, result)
	cb.LastResult = result
	if cb.Attempts >= d.cfg.MaxAttempts {
		d.fail(log, cb, CallbackFailAttempts)
		return
	}
	next, ok := d.retryAt(cb, cust, d.line.Now())
	if !ok {
		d.fail(log, cb, CallbackFailNoTime)
		return
	}
	if err := d.store.Retry(cb.ID, next, result); err != nil {
		log.Error("callback not scheduled again", "error", err)
		return
	}
	log.Info("callback to be tried again", "result", result, "attempts", cb.Attempts, "max_attempts", d.cfg.MaxAttempts,
		"due", next)
}
