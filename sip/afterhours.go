package sip

import (
	"time"

	"hotline/audio"
	"hotline/callflow"
	"hotline/recording"
	"hotline/routing/config"
	"hotline/routing/rules"
	"hotline/sip/media"
)

// Prompt names of after-hours actions besides the configured message:
// used when the message is the default "closed" and the file exists.
const (
	promptClosed    = "closed"
	promptCallback  = "callback"  // "we will call you back"
	promptVoicemail = "voicemail" // "leave a message after the tone"
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

// playMessage plays a prompt (preferring the action's own prompt when the
// message is the default one) and waits for its end. Without the prompt,
// three short beeps stand in. It returns false if the call ended.
func (c *call) playMessage(name, actionPrompt string) bool {
	a := c.message(name)
	if name == promptClosed && actionPrompt != "" {
		if p := c.message(actionPrompt); p != nil {
			a = p
		}
	}
	if a == nil {
		c.log.Warn("no prompt for the after-hours message; playing beeps", "message", name)
		return c.tone(media.NewTone([]float64{480}, 200*time.Millisecond, 200*time.Millisecond, 0.3), 1100*time.Millisecond)
	}
	return c.speaker().Play(a, false)
}

// tone plays src for d; false if the call ended meanwhile.
func (c *call) tone(src media.Source, d time.Duration) bool {
	return c.speaker().Tone(src, d)
}

// afterHours carries out an action other than queueing (the router's
// answer outside open hours, or a rule's action): the caller is answered,
// hears the message, and Hotline hangs up.
func (c *call) afterHours(d rules.Decision) {
	c.log.Info("after-hours action", "action", d.Action, "rule", d.Rule, "queue", d.Queue, "message", d.Message)
	c.runAction(d, callflow.ErrAfterHours)
}

// runAction answers the caller, carries out a message, callback or
// voicemail action, and ends the call with cause.
func (c *call) runAction(d rules.Decision, cause error) {
	if err := c.answer(); err != nil {
		c.end(err)
		return
	}
	switch d.Action {
	case config.ActionCallback:
		prompt := ""
		if f := c.s.deps.RequestCallback; f == nil {
			c.log.Warn("callback action without a callback store: message only")
		} else if cb, err := f(c.customer, d); err != nil {
			c.log.Error("callback request not stored", "error", err)
		} else {
			c.log.Info("callback requested", "callback", cb.ID, "number", cb.Number, "due", cb.Due)
			prompt = promptCallback
		}
		if !c.playMessage(d.Message, prompt) {
			return
		}
	case config.ActionVoicemail:
		if !c.voicemail(d) {
			return
		}
	default:
		if !c.playMessage(d.Message, "") {
			return
		}
	}
	c.end(cause)
}

// voicemail plays the message and a beep, then records the caller (their
// side only, reason "voicemail") until they hang up, press #, or the
// voicemail limit passes. Without recording it is a message. It returns
// false if the call ended (the usual end: the caller hangs up).
func (c *call) voicemail(d rules.Decision) bool {
	rs := c.s.deps.Recordings
	if rs == nil {
		c.log.Warn("voicemail needs recording: playing the message only")
		return c.playMessage(d.Message, "")
	}
	if !c.playMessage(d.Message, promptVoicemail) ||
		!c.tone(media.NewTone([]float64{1000}, 400*time.Millisecond, time.Second, 0.3), 400*time.Millisecond) {
		return false
	}
	c.mu.Lock()
	rec := c.rec
	c.mu.Unlock()
	if rec == nil {
		var err error
		rec, err = rs.Begin(recording.CallInfo{CallID: c.id, Caller: c.from, Queue: d.Queue,
			Segment: c.customer.Segment, Reason: "voicemail", Start: time.Now()})
		if err != nil {
			c.log.Error("voicemail not recorded", "error", err)
			return true
		}
		rec.SetFormat(recording.Caller, c.caller.Format().Codec())
		c.mu.Lock()
		c.rec = rec
		c.mu.Unlock()
		c.caller.media.SetBatchTap(func(ps [][]byte, at time.Time) { rec.Packets(recording.Caller, ps, at) })
	} else {
		_ = rec.SetExtra("reason", "voicemail")
	}
	c.log.Info("recording voicemail", "key", rec.Key(), "max", c.s.deps.VoicemailMax)
	hash := make(chan struct{}, 1)
	c.caller.media.OnDTMF(func(k rune) {
		if k == '#' {
			select {
			case hash <- struct{}{}:
			default:
			}
		}
	})
	limit := time.NewTimer(c.s.deps.VoicemailMax)
	defer limit.Stop()
	select {
	case <-c.ctx.Done():
		return false
	case <-hash:
	case <-limit.C:
	}
	return true
}
