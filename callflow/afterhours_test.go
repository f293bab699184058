package callflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"hotline/audio"
	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
)

// fakeActionCall is an inbound call for the after-hours actions.
type fakeActionCall struct {
	leg      *fakeLeg
	prompts  map[string]*audio.Clip
	ctx      context.Context
	cancel   context.CancelCauseFunc
	store    func(rules.Decision) (callbacks.Callback, error) // nil: no store
	record   bool
	max      time.Duration
	answered bool

	mu       sync.Mutex
	recorded []string // queues of the voicemails recorded
}

func newActionCall(prompts map[string]*audio.Clip) *fakeActionCall {
	c := &fakeActionCall{leg: &fakeLeg{}, prompts: prompts, max: 5 * time.Second}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	return c
}

func (c *fakeActionCall) Log() *slog.Logger              { return quiet() }
func (c *fakeActionCall) Context() context.Context       { return c.ctx }
func (c *fakeActionCall) End(cause error)                { c.cancel(cause) }
func (c *fakeActionCall) Answer() error                  { c.answered = true; return nil }
func (c *fakeActionCall) Customer() directory.Customer   { return directory.Unknown("+84912000111") }
func (c *fakeActionCall) Caller() Player                 { return c.leg }
func (c *fakeActionCall) Prompt(name string) *audio.Clip { return c.prompts[name] }
func (c *fakeActionCall) CanRecord() bool                { return c.record }
func (c *fakeActionCall) VoicemailMax() time.Duration    { return c.max }

func (c *fakeActionCall) RequestCallback(d rules.Decision) (callbacks.Callback, error) {
	if c.store == nil {
		return callbacks.Callback{}, ErrNoCallbackStore
	}
	return c.store(d)
}

func (c *fakeActionCall) RecordVoicemail(queue string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recorded = append(c.recorded, queue)
	return "vm/" + queue, nil
}

// kinds are the kinds of what the caller was played: "clip" or "tone".
func (c *fakeActionCall) kinds() []string {
	c.leg.mu.Lock()
	defer c.leg.mu.Unlock()
	var out []string
	for _, src := range c.leg.played {
		switch fmt.Sprintf("%T", src) {
		case "*audio.once":
			out = append(out, "clip")
		case "*audio.tone":
			out = append(out, "tone")
		default:
			out = append(out, fmt.Sprintf("%T", src))
		}
	}
	return out
}

func (c *fakeActionCall) cause() error { return context.Cause(c.ctx) }

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// TestActionMessage: the caller is answered, hears the message and the
// call ends with the cause given; without the prompt beeps stand in.
func TestActionMessage(t *testing.T) {
	c := newActionCall(map[string]*audio.Clip{"closed": clip(t, 800)})
	RunAction(c, rules.Decision{Action: config.ActionMessage, Message: "closed"}, ErrAfterHours)
	if !c.answered || !equal(c.kinds(), []string{"clip"}) || !errors.Is(c.cause(), ErrAfterHours) {
		t.Errorf("answered %v, played %v, cause %v; want answered, the clip, after-hours", c.answered, c.kinds(), c.cause())
	}
	c = newActionCall(nil)
	RunAction(c, rules.Decision{Action: config.ActionMessage, Message: "holiday"}, ErrQueueEmpty)
	if !equal(c.kinds(), []string{"tone"}) || !errors.Is(c.cause(), ErrQueueEmpty) {
		t.Errorf("no prompt: played %v, cause %v; want beeps, queue empty", c.kinds(), c.cause())
	}
}

// TestActionCallback: the callback is stored for the caller and the
// callback prompt stands in for the default message; without a store
// (or when it fails) only the message is played.
func TestActionCallback(t *testing.T) {
	prompts := map[string]*audio.Clip{"callback": clip(t, 800)}
	var asked rules.Decision
	c := newActionCall(prompts)
	c.store = func(d rules.Decision) (callbacks.Callback, error) {
		asked = d
		return callbacks.Callback{ID: "cb1", Number: "+84912000111"}, nil
	}
	d := rules.Decision{Action: config.ActionCallback, Message: "closed", Queue: "sales"}
	AfterHours(c, d)
	if asked.Queue != "sales" || !equal(c.kinds(), []string{"clip"}) || !errors.Is(c.cause(), ErrAfterHours) {
		t.Errorf("asked %+v, played %v, cause %v; want the callback stored, its prompt played", asked, c.kinds(), c.cause())
	}
	for _, store := range []func(rules.Decision) (callbacks.Callback, error){nil,
		func(rules.Decision) (callbacks.Callback, error) { return callbacks.Callback{}, errors.New("disk full") }} {
		c := newActionCall(prompts)
		c.store = store
		AfterHours(c, d)
		if !equal(c.kinds(), []string{"tone"}) || !errors.Is(c.cause(), ErrAfterHours) {
			t.Errorf("callback not stored: played %v, cause %v; want the message (beeps: no closed prompt)", c.kinds(), c.cause())
		}
	}
}

// TestActionVoicemail: message, beep, then the caller's side is recorded
// until they press #; without recording it is a message.
func TestActionVoicemail(t *testing.T) {
	prompts := map[string]*audio.Clip{"voicemail": clip(t, 800)}
	c := newActionCall(prompts)
	c.record = true
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunAction(c, rules.Decision{Action: config.ActionVoicemail, Message: "closed", Queue: "sales"}, ErrAfterHours)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.recorded)
		c.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("voicemail not recorded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("voicemail ended before # or its limit")
	case <-time.After(100 * time.Millisecond):
	}
	c.leg.press("#")
	<-done
	if !equal(c.kinds(), []string{"clip", "tone"}) || !equal(c.recorded, []string{"sales"}) || !errors.Is(c.cause(), ErrAfterHours) {
		t.Errorf("played %v, recorded %v, cause %v", c.kinds(), c.recorded, c.cause())
	}

	// The limit ends it too.
	c = newActionCall(prompts)
	c.record, c.max = true, 50*time.Millisecond
	RunAction(c, rules.Decision{Action: config.ActionVoicemail, Message: "closed"}, ErrAfterHours)
	if len(c.recorded) != 1 || !errors.Is(c.cause(), ErrAfterHours) {
		t.Errorf("at the limit: recorded %v, cause %v", c.recorded, c.cause())
	}

	// Without recording: the message only.
	c = newActionCall(map[string]*audio.Clip{"closed": clip(t, 800)})
	RunAction(c, rules.Decision{Action: config.ActionVoicemail, Message: "closed"}, ErrAfterHours)
	if len(c.recorded) != 0 || !equal(c.kinds(), []string{"clip"}) || !errors.Is(c.cause(), ErrAfterHours) {
		t.Errorf("no recording: recorded %v, played %v, cause %v", c.recorded, c.kinds(), c.cause())
	}
}

// TestActionCallerHangsUp: a caller who hangs up during the message ends
// the action; the call keeps the hang-up as its cause.
func TestActionCallerHangsUp(t *testing.T) {
	c := newActionCall(map[string]*audio.Clip{"closed": clip(t, 80000)}) // 10 s
	go func() {
		time.Sleep(50 * time.Millisecond)
		c.End(ErrCallerHangup)
	}()
	RunAction(c, rules.Decision{Action: config.ActionVoicemail, Message: "closed"}, ErrAfterHours)
	if !errors.Is(c.cause(), ErrCallerHangup) {
		t.Errorf("cause %v, want the caller's hang-up", c.cause())
	}
}
