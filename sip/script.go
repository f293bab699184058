package sip

// The call's side of the call scripts that run in callflow: the
// after-hours actions (callflow/afterhours.go) see a call through
// callflow.ActionCall, the keypad questions and the waiting caller's
// announcements and callback key (callflow/ivr.go) through
// callflow.KeypadCall.

import (
	"context"
	"log/slog"
	"time"

	"hotline/audio"
	"hotline/callflow"
	"hotline/routing/callbacks"
	"hotline/routing/config"
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
	langs := []string{c.state.Customer().Language}
	if sv := c.s.deps.Survey; sv != nil {
		langs = append(langs, sv.Language)
	}
	return append(langs, "en")
}

// tone plays src for d; false if the call ended meanwhile.
func (c *call) tone(src media.Source, d time.Duration) bool {
	return c.speaker().Tone(src, d)
}

// prompts returns the clips of names in one language (audio.Prompts.FindAll).
func (c *call) prompts(names ...string) []*audio.Clip {
	return c.s.currentPrompts().FindAll(names, c.promptLanguages()...)
}

// speaker plays to the caller without listening to keys.
func (c *call) speaker() *callflow.Keypad { return callflow.Speaker(c.ctx, c.caller.media) }

// checkIVRPrompts makes sure the configured questions can be asked
// (callflow.CheckIVRPrompts).
func (s *Server) checkIVRPrompts(p *audio.Prompts) error {
	return callflow.CheckIVRPrompts(s.deps.Routing, p, s.log)
}

// scriptCall is a call as the scripts in callflow see it.
type scriptCall struct{ c *call }

var _ callflow.QueueCall = scriptCall{}

func (sc scriptCall) Log() *slog.Logger              { return sc.c.log }
func (sc scriptCall) Context() context.Context       { return sc.c.ctx }
func (sc scriptCall) End(cause error)                { sc.c.end(cause) }
func (sc scriptCall) Answer() error                  { return sc.c.answer() }
func (sc scriptCall) Caller() callflow.Player        { return sc.c.caller.media }
func (sc scriptCall) Prompt(name string) *audio.Clip { return sc.c.message(name) }
func (sc scriptCall) CanRecord() bool                { return sc.c.s.deps.Recordings != nil }
func (sc scriptCall) VoicemailMax() time.Duration    { return sc.c.s.deps.VoicemailMax }
func (sc scriptCall) Customer() directory.Customer   { return sc.c.state.Customer() }

func (sc scriptCall) Prompts(names ...string) []*audio.Clip { return sc.c.prompts(names...) }
func (sc scriptCall) Routing() *config.Config               { return sc.c.s.deps.Routing }
func (sc scriptCall) Router() callflow.Router               { return sc.c.s.deps.Router }
func (sc scriptCall) Now() time.Time                        { return sc.c.s.now() }
func (sc scriptCall) Dialled() string                       { return sc.c.state.Hotline().Number }
func (sc scriptCall) Hold() audio.Reader                    { return sc.c.holdSource() }

// RememberStyle makes style the caller's (Deps.SetStyle remembers it).
func (sc scriptCall) RememberStyle(style string) {
	c := sc.c
	c.state.NoteStyle(style)
	if f := c.s.deps.SetStyle; f != nil {
		if err := f(c.state.Identity().Caller, style); err != nil {
			c.log.Warn("service style not remembered", "style", style, "error", err)
		}
	}
}

// Route routes the call again after the keypad questions.
func (sc scriptCall) Route(d rules.Decision, reason string) {
	sc.c.state.Reroute(d, reason)
}

// Decision is where the rules sent the call.
func (sc scriptCall) Decision() rules.Decision { return sc.c.state.Decision() }

// TurnedAway counts a caller an empty queue turns away; joining, the
// call takes the after-hours decision d.
func (sc scriptCall) TurnedAway(d rules.Decision, joining bool) {
	c := sc.c
	when := "leave"
	if joining {
		when = "join"
	}
	c.s.deps.Metrics.QueueEmpty(c.metricsCall(), when)
	if joining {
		c.state.Route(d)
	}
}

// LeftForCallback notes the callback the caller left the queue for.
func (sc scriptCall) LeftForCallback(id string) { sc.c.state.NoteLeftForCallback(id) }

// RequestCallback stores a callback request (Deps.RequestCallback).
func (sc scriptCall) RequestCallback(d rules.Decision) (callbacks.Callback, error) {
	f := sc.c.s.deps.RequestCallback
	if f == nil {
		return callbacks.Callback{}, callflow.ErrNoCallbackStore
	}
	return f(sc.Customer(), d)
}

// RecordVoicemail records the caller's side with reason "voicemail" (a
// call recorded since its answer keeps its recording, marked voicemail;
// callflow.Call.RecordVoicemail).
func (sc scriptCall) RecordVoicemail(queue string) (string, error) {
	c := sc.c
	info := c.state.RecordingInfo("")
	info.Queue = queue
	rec, begun, err := c.state.RecordVoicemail(c.s.deps.Recordings, info)
	if err != nil {
		return "", err
	}
	c.tapRecording(rec, begun)
	return rec.Key(), nil
}
