package sip

// The call's side of the call scripts that run in callflow: the
// after-hours actions (callflow/afterhours.go) see a call through
// callflow.ActionCall.

import (
	"context"
	"log/slog"
	"time"

	"hotline/audio"
	"hotline/callflow"
	"hotline/recording"
	"hotline/routing/callbacks"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"hotline/sip/media"
)

// message returns a prompt in the caller's language (else the survey's,
// else English, else any), or nil.
func (c *call) message(name string) *audio.Clip {
	return c.s.currentPrompts().Find(name, c.promptLanguages()...)
}

// promptLanguages are the languages prompts are looked for in: the
// caller's, the survey's, English.
func (c *call) promptLanguages() []string {
	langs := []string{c.customer.Language}
	if sv := c.s.deps.Survey; sv != nil {
		langs = append(langs, sv.Language)
	}
	return append(langs, "en")
}

// tone plays src for d; false if the call ended meanwhile.
func (c *call) tone(src media.Source, d time.Duration) bool {
	return c.speaker().Tone(src, d)
}

// afterHours carries out an action other than queueing
// (callflow.AfterHours).
func (c *call) afterHours(d rules.Decision) { callflow.AfterHours(scriptCall{c}, d) }

// runAction answers the caller, carries out a message, callback or
// voicemail action, and ends the call with cause (callflow.RunAction).
func (c *call) runAction(d rules.Decision, cause error) { callflow.RunAction(scriptCall{c}, d, cause) }

// scriptCall is a call as the scripts in callflow see it.
type scriptCall struct{ c *call }

var _ callflow.ActionCall = scriptCall{}

func (sc scriptCall) Log() *slog.Logger              { return sc.c.log }
func (sc scriptCall) Context() context.Context       { return sc.c.ctx }
func (sc scriptCall) End(cause error)                { sc.c.end(cause) }
func (sc scriptCall) Answer() error                  { return sc.c.answer() }
func (sc scriptCall) Caller() callflow.Player        { return sc.c.caller.media }
func (sc scriptCall) Prompt(name string) *audio.Clip { return sc.c.message(name) }
func (sc scriptCall) CanRecord() bool                { return sc.c.s.deps.Recordings != nil }
func (sc scriptCall) VoicemailMax() time.Duration    { return sc.c.s.deps.VoicemailMax }
func (sc scriptCall) Customer() directory.Customer {
	sc.c.mu.Lock()
	defer sc.c.mu.Unlock()
	return sc.c.customer
}

// RequestCallback stores a callback request (Deps.RequestCallback).
func (sc scriptCall) RequestCallback(d rules.Decision) (callbacks.Callback, error) {
	f := sc.c.s.deps.RequestCallback
	if f == nil {
		return callbacks.Callback{}, callflow.ErrNoCallbackStore
	}
	return f(sc.Customer(), d)
}

// RecordVoicemail records the caller's side with reason "voicemail" (a
// call recorded since its answer keeps its recording, marked voicemail).
func (sc scriptCall) RecordVoicemail(queue string) (string, error) {
	c := sc.c
	rs := c.s.deps.Recordings
	if rs == nil {
		return "", callflow.ErrNotRecording
	}
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	if rec == nil {
		var err error
		rec, err = rs.Begin(recording.CallInfo{CallID: c.id, Caller: c.from, Queue: queue,
			Segment: c.customer.Segment, Reason: "voicemail", Start: time.Now()})
		if err != nil {
			return "", err
		}
		rec.SetFormat(recording.Caller, c.caller.Format().Codec())
		c.mu.Lock()
		c.rec = rec
		c.mu.Unlock()
		c.caller.media.SetTap(func(p []byte, at time.Time) { rec.Packet(recording.Caller, p, at) })
	} else {
		_ = rec.SetExtra("reason", "voicemail")
	}
	return rec.Key(), nil
}
