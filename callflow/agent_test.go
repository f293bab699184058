package callflow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// watchedLeg is an agent's phone whose dialog and media the test ends.
type watchedLeg struct {
	agentLeg
	hungUp, mediaDone chan struct{}
	mediaErr          error
}

func newWatchedLeg() *watchedLeg {
	return &watchedLeg{agentLeg: agentLeg{"alice"}, hungUp: make(chan struct{}), mediaDone: make(chan struct{})}
}

func (l *watchedLeg) HungUp() <-chan struct{}    { return l.hungUp }
func (l *watchedLeg) MediaDone() <-chan struct{} { return l.mediaDone }
func (l *watchedLeg) MediaErr() error            { return l.mediaErr }

// watchCall is a call with a bridged agent.
type watchCall struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	survey bool
	taken  bool // the agent's leg was taken away by a transfer

	mu        sync.Mutex
	leftNoted int
	toSurvey  chan struct{}
}

func newWatchCall(t *testing.T) *watchCall {
	c := &watchCall{toSurvey: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	t.Cleanup(func() { c.cancel(errors.New("test over")) })
	return c
}

func (c *watchCall) Context() context.Context { return c.ctx }
func (c *watchCall) End(cause error)          { c.cancel(cause) }
func (c *watchCall) Has(a Leg) bool           { return !c.taken }
func (c *watchCall) NoteAgentLeft()           { c.mu.Lock(); c.leftNoted++; c.mu.Unlock() }
func (c *watchCall) SurveyOn() bool           { return c.survey }
func (c *watchCall) ToSurvey()                { close(c.toSurvey) }

// TestWatchAgent: the agent hanging up ends the call, or with the survey
// on sends the caller to it; the agent's media timing out ends the call
// with ErrAgentTimeout; a leg a transfer took away, or media Hotline
// closed, changes nothing.
func TestWatchAgent(t *testing.T) {
	ended := func(t *testing.T, c *watchCall, want error) {
		t.Helper()
		select {
		case <-c.ctx.Done():
			if !errors.Is(context.Cause(c.ctx), want) {
				t.Errorf("call ended with %v, want %v", context.Cause(c.ctx), want)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("call not ended; want %v", want)
		}
	}
	stillUp := func(t *testing.T, c *watchCall) {
		t.Helper()
		time.Sleep(50 * time.Millisecond)
		if c.ctx.Err() != nil {
			t.Errorf("call ended with %v; want it going on", context.Cause(c.ctx))
		}
	}

	t.Run("hang-up, no survey", func(t *testing.T) {
		c, a := newWatchCall(t), newWatchedLeg()
		WatchAgent(c, a)
		close(a.hungUp)
		ended(t, c, ErrAgentHangup)
		if c.leftNoted != 1 {
			t.Errorf("agent's leaving noted %d times, want 1", c.leftNoted)
		}
	})
	t.Run("hang-up, survey", func(t *testing.T) {
		c, a := newWatchCall(t), newWatchedLeg()
		c.survey = true
		WatchAgent(c, a)
		close(a.hungUp)
		select {
		case <-c.toSurvey:
		case <-time.After(5 * time.Second):
			t.Fatal("caller not sent to the survey")
		}
		stillUp(t, c)
	})
	t.Run("media timeout", func(t *testing.T) {
		c, a := newWatchCall(t), newWatchedLeg()
		a.mediaErr = errors.New("no RTP")
		WatchAgent(c, a)
		close(a.mediaDone)
		ended(t, c, ErrAgentTimeout)
	})
	t.Run("media closed by Hotline", func(t *testing.T) {
		c, a := newWatchCall(t), newWatchedLeg()
		WatchAgent(c, a)
		close(a.mediaDone)
		stillUp(t, c)
	})
	t.Run("leg taken away", func(t *testing.T) {
		c, a := newWatchCall(t), newWatchedLeg()
		c.taken = true
		WatchAgent(c, a)
		close(a.hungUp)
		stillUp(t, c)
		if c.leftNoted != 0 {
			t.Errorf("agent's leaving noted %d times for a leg no longer the call's", c.leftNoted)
		}
	})
}
