package callflow

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"hotline/audio"
	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
)

// Prompt names of after-hours actions besides the configured message:
// used when the message is the default "closed" and the file exists.
const (
	promptClosed    = "closed"
	promptCallback  = "callback"  // "we will call you back"
	promptVoicemail = "voicemail" // "leave a message after the tone"
)

// Why an action could not be carried out in full (ActionCall).
var (
	// ErrNoCallbackStore: callbacks are not kept; the callback action
	// plays its message only.
	ErrNoCallbackStore = errors.New("no callback store")
	// ErrNotRecording: calls are not recorded; voicemail plays its
	// message only.
	ErrNotRecording = errors.New("calls are not recorded")
)

// ActionCall is a call as the after-hours actions see it (the SIP side's
// inbound call).
type ActionCall interface {
	Log() *slog.Logger
	// Context ends when the call ends, with its cause.
	Context() context.Context
	// End ends the call with cause (the first cause wins).
	End(cause error)
	// Answer answers the caller (once) and starts their media.
	Answer() error
	// Customer is who is calling.
	Customer() directory.Customer
	// Caller is the caller's leg.
	Caller() Player
	// Prompt returns a prompt in the caller's language (else the
	// survey's, else English, else any), or nil.
	Prompt(name string) *audio.Clip
	// RequestCallback stores a callback request for the caller
	// (ErrNoCallbackStore without a store).
	RequestCallback(d rules.Decision) (callbacks.Callback, error)
	// CanRecord says whether voicemail can be recorded.
	CanRecord() bool
	// RecordVoicemail records the caller's side (reason "voicemail",
	// queue) until the call ends, and returns the recording's key.
	RecordVoicemail(queue string) (key string, err error)
	// VoicemailMax bounds a voicemail.
	VoicemailMax() time.Duration
}

// playMessage plays a prompt (preferring the action's own prompt when the
// message is the default one) and waits for its end. Without the prompt,
// three short beeps stand in. It returns false if the call ended.
func playMessage(c ActionCall, name, actionPrompt string) bool {
	a := c.Prompt(name)
	if name == promptClosed && actionPrompt != "" {
		if p := c.Prompt(actionPrompt); p != nil {
			a = p
		}
	}
	if a == nil {
		c.Log().Warn("no prompt for the after-hours message; playing beeps", "message", name)
		return tone(c, audio.NewTone([]float64{480}, 200*time.Millisecond, 200*time.Millisecond, 0.3), 1100*time.Millisecond)
	}
	return Speaker(c.Context(), c.Caller()).Play(a, false)
}

// tone plays src for d; false if the call ended meanwhile.
func tone(c ActionCall, src audio.Reader, d time.Duration) bool {
	return Speaker(c.Context(), c.Caller()).Tone(src, d)
}

// AfterHours carries out an action other than queueing (the router's
// answer outside open hours, or a rule's action): the caller is answered,
// hears the message, and Hotline hangs up.
func AfterHours(c ActionCall, d rules.Decision) {
	c.Log().Info("after-hours action", "action", d.Action, "rule", d.Rule, "queue", d.Queue, "message", d.Message)
	RunAction(c, d, ErrAfterHours)
}

// RunAction answers the caller, carries out a message, callback or
// voicemail action, and ends the call with cause.
func RunAction(c ActionCall, d rules.Decision, cause error) {
	if err := c.Answer(); err != nil {
		c.End(err)
		return
	}
	switch d.Action {
	case config.ActionCallback:
		prompt := ""
		if cb, err := c.RequestCallback(d); errors.Is(err, ErrNoCallbackStore) {
			c.Log().Warn("callback action without a callback store: message only")
		} else if err != nil {
			c.Log().Error("callback request not stored", "error", err)
		} else {
			c.Log().Info("callback requested", "callback", cb.ID, "number", cb.Number, "due", cb.Due)
			prompt = promptCallback
		}
		if !playMessage(c, d.Message, prompt) {
			return
		}
	case config.ActionVoicemail:
		if !voicemail(c, d) {
			return
		}
	default:
		if !playMessage(c, d.Message, "") {
			return
		}
	}
	c.End(cause)
}

// voicemail plays the message and a beep, then records the caller (their
// side only, reason "voicemail") until they hang up, press #, or the
// voicemail limit passes. Without recording it is a message. It returns
// false if the call ended (the usual end: the caller hangs up).
func voicemail(c ActionCall, d rules.Decision) bool {
	if !c.CanRecord() {
		c.Log().Warn("voicemail needs recording: playing the message only")
		return playMessage(c, d.Message, "")
	}
	if !playMessage(c, d.Message, promptVoicemail) ||
		!tone(c, audio.NewTone([]float64{1000}, 400*time.Millisecond, time.Second, 0.3), 400*time.Millisecond) {
		return false
	}
	key, err := c.RecordVoicemail(d.Queue)
	if err != nil {
		c.Log().Error("voicemail not recorded", "error", err)
		return true
	}
	maxLen := c.VoicemailMax()
	c.Log().Info("recording voicemail", "key", key, "max", maxLen)
	hash := make(chan struct{}, 1)
	c.Caller().OnDTMF(func(k rune) {
		if k == '#' {
			select {
			case hash <- struct{}{}:
			default:
			}
		}
	})
	limit := time.NewTimer(maxLen)
	defer limit.Stop()
	select {
	case <-c.Context().Done():
		return false
	case <-hash:
	case <-limit.C:
	}
	return true
}
