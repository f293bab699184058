package sip

import (
	"context"
	"log/slog"
	"time"

	"hotline/callflow"
)

// teardown is a call's SIP side as its one teardown (callflow.Close)
// sees it.
type teardown struct{ c *call }

var _ callflow.Teardown = teardown{}

func (t teardown) Log() *slog.Logger        { return t.c.log }
func (t teardown) Context() context.Context { return t.c.ctx }
func (t teardown) End(cause error)          { t.c.end(cause) }
func (t teardown) Now() time.Time           { return t.c.s.now() }
func (t teardown) Timeline() callflow.Timeline {
	return t.c.state.Timeline()
}

// Legs are the call's legs still there, caller first.
func (t teardown) Legs() ([]callflow.ClosingLeg, bool) {
	c := t.c
	c.mu.Lock()
	answered := c.answered
	c.mu.Unlock()
	legs := c.state.Legs()
	out := make([]callflow.ClosingLeg, len(legs))
	for i, l := range legs {
		out[i] = closingLeg{c, l}
	}
	return out, answered
}

// FinishRecording finishes the call's recording, if any. The recorder
// runs on real time, like packet arrivals.
func (t teardown) FinishRecording() { t.c.state.FinishRecording(time.Now(), t.c.log) }

// Unlist takes the call out of the calls in progress.
func (t teardown) Unlist() bool {
	s, c := t.c.s, t.c
	if c.state.Pseudo() { // a consultation's or a supervisor's: never listed
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	listed := s.byID[c.ID()] == c
	delete(s.byID, c.ID())
	return listed
}

func (t teardown) Metrics() callflow.CallMetrics { return callMetricsOf(t.c.s.deps.Metrics) }

func (t teardown) AskNPS() bool {
	sv := t.c.s.deps.Survey
	return sv != nil && sv.NPS
}

// EndLog are the caller's packet counts.
func (t teardown) EndLog() []any {
	c := t.c
	c.mu.Lock()
	caller := c.caller
	c.mu.Unlock()
	if caller == nil {
		return nil
	}
	st := caller.media.Stats()
	return []any{"caller_rtp_in", st.PacketsIn, "caller_rtp_out", st.PacketsOut}
}

// Recorded hands the record on (Deps.OnCallEnd).
func (t teardown) Recorded(r callflow.Record) {
	if f := t.c.s.deps.OnCallEnd; f != nil {
		f(r)
	}
}

// Inactive: the call no longer counts against max_calls.
func (t teardown) Inactive() { t.c.s.active.Add(-1) }

// closingLeg is one leg of a call in its teardown.
type closingLeg struct {
	c *call
	l *Leg
}

func (cl closingLeg) Name() string       { return cl.l.role.String() }
func (cl closingLeg) Placed() bool       { return cl.l.srv == nil }
func (cl closingLeg) Established() bool  { return cl.l.acked }
func (cl closingLeg) HangupCause() error { return hangupCause(cl.l.role) }
func (cl closingLeg) Gone() bool         { return cl.l.srv.Context().Err() != nil }

func (cl closingLeg) Bye(ctx context.Context) error { return cl.l.Bye(ctx) }

// Reject sends the final response to the leg's INVITE; no 180 follows it.
func (cl closingLeg) Reject(code int, reason string) {
	cl.c.endProvisionals()
	_ = cl.l.srv.Respond(code, reason, nil)
}

// Release takes the leg out of its bridges and the dialog table and
// closes its dialog and media.
func (cl closingLeg) Release() {
	c, l := cl.c, cl.l
	c.split(l)
	c.s.unregister(l.callID)
	if l.srv != nil {
		_ = l.srv.Close()
	}
	l.media.SetTap(nil)
	_ = l.media.Close()
	c.s.legEnded(l.media)
}
