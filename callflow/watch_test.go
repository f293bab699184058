package callflow_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"hotline/audio"
	"hotline/callflow"
)

// watchedLeg is a leg whose peer hangs up or whose media stops as a test
// says.
type watchedLeg struct {
	hungUp, mediaDone chan struct{}
	mediaErr          error
}

func newWatchedLeg() *watchedLeg {
	return &watchedLeg{hungUp: make(chan struct{}), mediaDone: make(chan struct{})}
}

func (l *watchedLeg) Peer() string               { return "caller" }
func (l *watchedLeg) Codec() audio.Codec         { return audio.PCMU() }
func (l *watchedLeg) Play(audio.Reader)          {}
func (l *watchedLeg) HungUp() <-chan struct{}    { return l.hungUp }
func (l *watchedLeg) MediaDone() <-chan struct{} { return l.mediaDone }
func (l *watchedLeg) MediaErr() error            { return l.mediaErr }

type ender struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func newEnder(t *testing.T) *ender {
	e := &ender{}
	e.ctx, e.cancel = context.WithCancelCause(context.Background())
	t.Cleanup(func() { e.cancel(errors.New("test over")) })
	return e
}

func (e *ender) Context() context.Context { return e.ctx }
func (e *ender) End(cause error)          { e.cancel(cause) }

// cause waits up to wait for the call to end and returns its cause (nil:
// it did not end).
func (e *ender) cause(wait time.Duration) error {
	select {
	case <-e.ctx.Done():
		return context.Cause(e.ctx)
	case <-time.After(wait):
		return nil
	}
}

// TestWatchLeg: the leg's hang-up and media timeout end the call with
// their causes; a media closed by Hotline ends nothing, nor does an
// event that is not watched.
func TestWatchLeg(t *testing.T) {
	e, l := newEnder(t), newWatchedLeg()
	callflow.WatchLeg(e, l, callflow.ErrCustomerHangup, callflow.ErrCallerTimeout)
	close(l.hungUp)
	if got := e.cause(2 * time.Second); !errors.Is(got, callflow.ErrCustomerHangup) {
		t.Errorf("hang-up: cause %v, want the customer's hang-up", got)
	}

	e, l = newEnder(t), newWatchedLeg()
	l.mediaErr = errors.New("no RTP for 30s")
	callflow.WatchLeg(e, l, callflow.ErrCustomerHangup, callflow.ErrCallerTimeout)
	close(l.mediaDone)
	if got := e.cause(2 * time.Second); !errors.Is(got, callflow.ErrCallerTimeout) {
		t.Errorf("media timeout: cause %v, want the media timeout", got)
	}

	e, l = newEnder(t), newWatchedLeg()
	callflow.WatchLeg(e, l, callflow.ErrCallerHangup, callflow.ErrCallerTimeout)
	close(l.mediaDone) // closed by Hotline: no error
	if got := e.cause(100 * time.Millisecond); got != nil {
		t.Errorf("media closed by Hotline: the call ended (%v)", got)
	}

	e, l = newEnder(t), newWatchedLeg()
	l.mediaErr = errors.New("no RTP for 30s")
	callflow.WatchLeg(e, l, callflow.ErrCallerHangup, nil) // the media is not watched
	close(l.mediaDone)
	if got := e.cause(100 * time.Millisecond); got != nil {
		t.Errorf("unwatched media timeout ended the call (%v)", got)
	}
	close(l.hungUp) // the hang-up still is
	if got := e.cause(2 * time.Second); !errors.Is(got, callflow.ErrCallerHangup) {
		t.Errorf("hang-up after an unwatched media timeout: cause %v, want the caller's hang-up", got)
	}
}
