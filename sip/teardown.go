package sip

import (
	"context"
	"log/slog"
	"time"

	"github.com/emiago/sipgo/sip"

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

func (t teardown) Metrics() callflow.CallMetrics { return t.c.s.deps.CallMetrics }

func (t teardown) AskNPS() bool {
	return t.c.s.deps.Survey.AskNPS()
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

// Bye hangs the leg up. A caller whose ACK for the 200 OK has not come
// yet may not be sent a BYE before it (RFC 3261 §15), and waiting for it
// (up to sip.transaction_linger) must not hold up the call's end: that
// BYE goes out in the background (byeAfterAck) and Bye returns at once.
func (cl closingLeg) Bye(ctx context.Context) error {
	l := cl.l
	if l.srv == nil || l.srv.LoadState() != sip.DialogStateEstablished {
		return l.Bye(ctx)
	}
	l.byeAfterAck = true
	cl.c.s.byeAfterAck(cl.c, l)
	return nil
}

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
	if !l.byeAfterAck { // else byeAfterAck unregisters it once its BYE is done
		c.s.unregister(l.callID)
	}
	if l.srv != nil {
		_ = l.srv.Close()
	}
	_ = l.media.Close() // its last audio to the recording first (media.Leg.Close)
	c.s.legEnded(l.media)
}

// byeAfterAck sends the BYE of an answered caller whose ACK has not come
// yet once it comes, or once the 200 OK's retransmissions end without it
// (sipgo's WriteBye waits for either), and only then takes the leg out of
// the dialog table: its ACK must still find the dialog. Shutdown ends the
// wait.
func (s *Server) byeAfterAck(c *call, l *Leg) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer s.unregister(l.callID)
		ctx, cancel := context.WithTimeout(s.runCtx, 64*sip.T1+callflow.ByeTimeout)
		defer cancel()
		if err := l.srv.Bye(ctx); err != nil {
			c.log.Warn("BYE to the caller after its ACK", "error", err)
		}
	}()
}
