package callflowtest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"hotline/callflow"
)

// CallMetrics is a callflow.CallMetrics that notes what it was told, one
// line per observation ("queue_wait q answered 3s"), each call counted
// under its record's QueueName.
type CallMetrics struct {
	mu  sync.Mutex
	obs []string
}

var _ callflow.CallMetrics = (*CallMetrics)(nil)

func (m *CallMetrics) note(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.obs = append(m.obs, fmt.Sprintf(format, args...))
}

func (m *CallMetrics) KeypadAbandoned(r callflow.Record) {
	m.note("keypad_abandoned %s", r.QueueName())
}
func (m *CallMetrics) QueueWait(r callflow.Record, outcome string, wait time.Duration) {
	m.note("queue_wait %s %s %s", r.QueueName(), outcome, wait)
}
func (m *CallMetrics) HandleTime(r callflow.Record, connected time.Duration) {
	m.note("handle_time %s %s", r.QueueName(), connected)
}
func (m *CallMetrics) CSAT(r callflow.Record, wait time.Duration, score int) {
	m.note("csat %s %d", r.QueueName(), score)
}
func (m *CallMetrics) NPS(r callflow.Record, score int) { m.note("nps %s %d", r.QueueName(), score) }
func (m *CallMetrics) SurveyNoResponse(r callflow.Record, question string) {
	m.note("no_response %s %s", r.QueueName(), question)
}

// Observations are what the metrics were told, in order.
func (m *CallMetrics) Observations() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.obs...)
}

// Teardown is a callflow.Teardown that notes, in order, what the
// teardown did to the call and its legs ("bye agent", "release caller",
// "finish recording", "unlist", "recorded", "inactive"); BYEs run at
// once, so their order among themselves is not kept.
type Teardown struct {
	// Clock is the record's clock; time.Now when nil.
	Clock func() time.Time
	// Answered: the caller was answered.
	Answered bool
	// Listed: the call is in the calls in progress (it leaves a record).
	Listed bool
	// Line is the call's timeline.
	Line callflow.Timeline
	// Counts are the call metrics (nil: none); NPS: the survey asks NPS.
	Counts *CallMetrics
	NPS    bool

	ctx    context.Context
	cancel context.CancelCauseFunc
	legs   []*ClosingLeg

	mu     sync.Mutex
	events []string
	record *callflow.Record
}

var _ callflow.Teardown = (*Teardown)(nil)

// NewTeardown is a call with legs (caller first), listed and not
// answered yet.
func NewTeardown(legs ...*ClosingLeg) *Teardown {
	t := &Teardown{Listed: true, legs: legs}
	t.ctx, t.cancel = context.WithCancelCause(context.Background())
	for _, l := range legs {
		l.t = t
	}
	return t
}

func (t *Teardown) note(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, fmt.Sprintf(format, args...))
}

func (t *Teardown) Log() *slog.Logger        { return slog.New(slog.DiscardHandler) }
func (t *Teardown) Context() context.Context { return t.ctx }
func (t *Teardown) End(cause error)          { t.cancel(cause) }
func (t *Teardown) FinishRecording()         { t.note("finish recording") }
func (t *Teardown) Timeline() callflow.Timeline {
	t.note("timeline")
	return t.Line
}
func (t *Teardown) AskNPS() bool  { return t.NPS }
func (t *Teardown) EndLog() []any { return []any{"caller_rtp_in", 0} }
func (t *Teardown) Inactive()     { t.note("inactive") }

// Legs are the legs NewTeardown was given.
func (t *Teardown) Legs() ([]callflow.ClosingLeg, bool) {
	out := make([]callflow.ClosingLeg, len(t.legs))
	for i, l := range t.legs {
		out[i] = l
	}
	return out, t.Answered
}

// Unlist notes it; Listed says what it returns.
func (t *Teardown) Unlist() bool {
	t.note("unlist")
	return t.Listed
}

// Now is Clock's time.
func (t *Teardown) Now() time.Time {
	if t.Clock != nil {
		return t.Clock()
	}
	return time.Now()
}

// Metrics are Counts.
func (t *Teardown) Metrics() callflow.CallMetrics {
	if t.Counts == nil {
		return nil
	}
	t.note("metrics")
	return t.Counts
}

// Recorded keeps the record.
func (t *Teardown) Recorded(r callflow.Record) {
	t.note("recorded")
	t.mu.Lock()
	t.record = &r
	t.mu.Unlock()
}

// Events are what the teardown did, in order.
func (t *Teardown) Events() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.events...)
}

// Record is the record handed on, nil if none.
func (t *Teardown) Record() *callflow.Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.record
}

// ClosingLeg is a callflow.ClosingLeg of a Teardown.
type ClosingLeg struct {
	// Role names the leg ("caller", "agent").
	Role string
	// Out: Hotline placed the leg; Up: its answer was acknowledged.
	Out, Up bool
	// Hangup is the cause a hang-up of this leg's peer ends the call with.
	Hangup error
	// Left: the peer of a leg that called in cancelled or hung up.
	Left bool
	// ByeWait makes Bye wait for its context to end.
	ByeWait bool

	t        *Teardown
	mu       sync.Mutex
	deadline time.Time
}

func (l *ClosingLeg) Name() string       { return l.Role }
func (l *ClosingLeg) Placed() bool       { return l.Out }
func (l *ClosingLeg) Established() bool  { return l.Up }
func (l *ClosingLeg) HangupCause() error { return l.Hangup }
func (l *ClosingLeg) Gone() bool         { return l.Left }
func (l *ClosingLeg) Release()           { l.t.note("release %s", l.Role) }
func (l *ClosingLeg) Reject(code int, reason string) {
	l.t.note("reject %s %d %s", l.Role, code, reason)
}

// Bye notes the BYE and its deadline.
func (l *ClosingLeg) Bye(ctx context.Context) error {
	l.mu.Lock()
	l.deadline, _ = ctx.Deadline()
	l.mu.Unlock()
	if l.ByeWait {
		<-ctx.Done()
	}
	l.t.note("bye %s", l.Role)
	return ctx.Err()
}

// ByeDeadline is the deadline the BYE was given (zero: no BYE).
func (l *ClosingLeg) ByeDeadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deadline
}
