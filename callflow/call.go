package callflow

// A call's life from the call-control side: its script (Run) and its one
// teardown (Close), with the SIP side behind small interfaces (InboundCall,
// Teardown, ClosingLeg); sip's call implements them.

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"hotline/routing/config"
)

// Run is an inbound call's script: a call the rules send to a queue is
// first asked the keypad questions (AskFirst), whose answers may route it
// again; then it gets the after-hours action it is routed to (AfterHours)
// or its life in the queue (Queue). It returns when the script is over
// (or the call ended); the teardown (Close) is the caller's.
func Run(c InboundCall) {
	if c.Decision().Action == config.ActionQueue && !AskFirst(c) {
		return
	}
	if d := c.Decision(); d.Action != config.ActionQueue {
		AfterHours(c, d)
		return
	}
	Queue(c)
}

// ByeTimeout bounds each leg's hang-up in the teardown: a phone that
// vanished must not delay, or use up the time of, the other side's BYE.
const ByeTimeout = 5 * time.Second

// ClosingLeg is one leg of a call as the teardown sees it.
type ClosingLeg interface {
	// Name names the leg in logs (its role: caller, agent, ...).
	Name() string
	// Placed says Hotline placed the leg (sent its INVITE); else its
	// peer called in.
	Placed() bool
	// Established says a placed leg's answer was acknowledged: it is up
	// until hung up.
	Established() bool
	// HangupCause is the cause a call ends with when the leg's peer
	// hangs up (ErrCallerHangup for the caller's, ...).
	HangupCause() error
	// Gone says the peer of a leg that called in cancelled or hung up.
	Gone() bool
	// Bye hangs the leg up (BYE) within ctx.
	Bye(ctx context.Context) error
	// Reject answers the INVITE of a leg that called in and was not
	// answered with a final response.
	Reject(code int, reason string)
	// Release ends the leg: out of its bridges and of the dialog tables,
	// its dialog and media closed.
	Release()
}

// Teardown is a call's SIP side as its one teardown (Close) sees it.
type Teardown interface {
	Log() *slog.Logger
	// Context ends when the call ends; its cause is the call's.
	Context() context.Context
	// End ends the call with cause (the first cause wins).
	End(cause error)
	// Legs are the call's legs still there, in the order they joined,
	// and whether the caller was answered.
	Legs() (legs []ClosingLeg, answered bool)
	// FinishRecording finishes the call's recording, if any (a failure is
	// logged).
	FinishRecording()
	// Unlist takes the call out of the calls in progress; false if it was
	// not listed (a callback no agent took): it leaves no record.
	Unlist() bool
	// Timeline is what the call went through, for its record.
	Timeline() Timeline
	// Now is the clock of the record.
	Now() time.Time
	// Metrics counts finished calls (nil: no metrics); AskNPS says
	// whether the survey asks the NPS question.
	Metrics() CallMetrics
	AskNPS() bool
	// EndLog are attributes the SIP side adds to the call's end log (the
	// caller's packet counts).
	EndLog() []any
	// Recorded hands the call's record on (the call records).
	Recorded(r Record)
	// Inactive: the call no longer counts as active. Called once its
	// record was handed on, so whoever waits for no active call (drain,
	// tests) finds it complete.
	Inactive()
}

// Close is the one teardown of every call, inbound or callback: it ends
// the call with cause unless it already ended (the first cause wins),
// hangs up the legs still up at once, each BYE within ByeTimeout (a placed
// leg only once established, and not when its own peer's hang-up ended
// the call; the others once the caller is answered, unless the caller
// hung up), answers a caller not answered yet with the cause's final
// response (Status), then releases every leg, finishes the recording and
// unlists the call. A listed call's record is built (Build), its metrics
// moved (Observe), logged and handed on, in that order.
func Close(c Teardown, cause error) {
	c.End(cause)
	cause = context.Cause(c.Context())
	log := c.Log()
	legs, answered := c.Legs()

	var byes sync.WaitGroup
	bye := func(l ClosingLeg) {
		byes.Add(1)
		go func() {
			defer byes.Done()
			ctx, cancel := context.WithTimeout(context.Background(), ByeTimeout)
			defer cancel()
			if err := l.Bye(ctx); err != nil {
				log.Debug("BYE to "+l.Name(), "error", err)
			}
		}()
	}
	for _, l := range legs {
		switch {
		case l.Placed(): // Hotline placed the leg: hung up once established
			if l.Established() && !errors.Is(cause, l.HangupCause()) {
				bye(l)
			}
		case answered && !errors.Is(cause, ErrCallerHangup):
			bye(l)
		case !answered && !l.Gone():
			l.Reject(Status(cause))
		}
	}
	byes.Wait()
	for _, l := range legs {
		l.Release()
	}
	c.FinishRecording()
	if !c.Unlist() {
		return
	}
	defer c.Inactive()
	r := Build(c.Timeline(), c.Now(), cause)
	Observe(c.Metrics(), r, c.AskNPS())
	attrs := []any{"direction", r.Direction, "cause", r.Cause, "outcome", r.Outcome, "agent", r.Agent,
		"reason", r.Reason, "wait", r.Wait.Round(time.Millisecond), "talk", r.Talk.Round(time.Millisecond),
		"hold", r.Hold.Round(time.Millisecond), "csat", intAttr(r.Survey.CSAT), "nps", intAttr(r.Survey.NPS)}
	log.Info("call ended", append(attrs, c.EndLog()...)...)
	for _, tr := range r.Transfers {
		log.Info("call ended: transfer", "kind", tr.Kind, "at", tr.At, "by", tr.By, "target", tr.Target, "agents", r.Agents,
			"outside", r.Outside)
	}
	c.Recorded(r)
}

func intAttr(p *int) any {
	if p == nil {
		return "none"
	}
	return *p
}
