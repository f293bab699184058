package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"hotline/audio"
	"hotline/callflow"
	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"hotline/sip/media"
)

// The caller's keypad before and while queueing:
//
//   - first contact: callers of unknown service style are asked "press 1
//     to be guided step by step, press 2 to have us do it for you"; the
//     answer is remembered (Deps.SetStyle) and routes this call;
//   - the reason menu (ivr.reason_menu) makes the key pressed the call's
//     reason, for the rules, the call record and the metrics;
//   - while waiting, periodic announcements of the caller's place and
//     estimated wait interrupt the hold music, and the queue's callback
//     key trades the wait for a callback that keeps the caller's place.
//
// Prompts are <lang>/<name>.wav of Deps.Prompts (deploy/prompts).

// ErrCallback ends a call whose caller left the queue for a callback.
var ErrCallback = errors.New("caller asked to be called back")

// Prompt names of the keypad questions and queue announcements.
const (
	promptStyle           = "style"            // press 1 guided, press 2 done for you
	promptInvalid         = "invalid"          // shared with the survey
	promptPosition        = "position"         // "you are caller number" + number
	promptPositionMany    = "position_many"    // more than maxSpoken callers ahead
	promptWait            = "wait"             // "your estimated wait is about" + number + minute(s)
	promptMinute          = "minute"           // after one
	promptMinutes         = "minutes"          // after two and more
	promptWaitShort       = "wait_short"       // less than a minute
	promptWaitLong        = "wait_long"        // more than maxSpoken minutes
	promptPress           = "press"            // "press" + key + callback_offer
	promptCallbackOffer   = "callback_offer"   // "to be called back and keep your place"
	promptCallbackConfirm = "callback_confirm" // "we will call you back ... goodbye"
)

// maxSpoken is the largest number announced; above it the announcement
// says "more than twenty".
const maxSpoken = 20

// numberPrompt is the prompt of a number 0-maxSpoken.
func numberPrompt(n int) string { return "num_" + strconv.Itoa(n) }

// keyPrompt is the prompt naming a keypad key.
func keyPrompt(k string) string {
	switch k {
	case "*":
		return "star"
	case "#":
		return "hash"
	}
	return "num_" + k
}

// announcementPrompts lists the prompts of a queue announcement for a call
// in status st: its place (position counts the calls ahead), its estimated
// wait rounded to minutes, and how to ask for a callback (key "" or "none":
// not offered). Numbers above maxSpoken are not spoken.
func announcementPrompts(st acd.CallStatus, a config.AnnounceConfig, key string) []string {
	var out []string
	if a.SaysPosition() {
		if n := st.Position + 1; n > maxSpoken {
			out = append(out, promptPositionMany)
		} else {
			out = append(out, promptPosition, numberPrompt(n))
		}
	}
	if a.SaysWait() {
		switch m := int((st.EstimatedWait + 30*time.Second) / time.Minute); {
		case m < 1:
			out = append(out, promptWaitShort)
		case m > maxSpoken:
			out = append(out, promptWaitLong)
		case m == 1:
			out = append(out, promptWait, numberPrompt(1), promptMinute)
		default:
			out = append(out, promptWait, numberPrompt(m), promptMinutes)
		}
	}
	if key != "" && key != config.CallbackKeyNone {
		out = append(out, promptPress, keyPrompt(key), promptCallbackOffer)
	}
	return out
}

// checkIVRPrompts makes sure the configured questions can be asked: the
// style and reason prompts must exist. Missing announcement prompts are
// only logged (the announcement leaves them out).
func (s *Server) checkIVRPrompts(p *audio.Prompts) error {
	ivr := s.deps.Routing.IVR
	has := p.Has
	var errs []error
	if ivr.StyleQuestion && !has(promptStyle) {
		errs = append(errs, fmt.Errorf("ivr.style_question: no prompt %s.wav in any language of the prompts", promptStyle))
	}
	if ivr.ReasonMenu.On() && !has(ivr.ReasonMenu.Prompt) {
		errs = append(errs, fmt.Errorf("ivr.reason_menu.prompt: no prompt %s.wav in any language of the prompts", ivr.ReasonMenu.Prompt))
	}
	for _, q := range s.deps.Routing.Queues {
		if q.Announce == nil || q.Announce.Every <= 0 {
			continue
		}
		for _, name := range []string{promptPosition, promptWait, promptPress, promptCallbackOffer, numberPrompt(1)} {
			if !has(name) {
				s.log.Warn("queue announcements miss a prompt; it is left out", "queue", q.Name, "prompt", name+".wav")
			}
		}
	}
	return errors.Join(errs...)
}

// prompts returns the clips of names in one language: the caller's, else
// the survey's, else English, else any that has them all; failing that
// each in whichever language has it. Missing clips are left out.
func (c *call) prompts(names ...string) []*audio.Clip {
	return c.s.currentPrompts().FindAll(names, c.promptLanguages()...)
}

// listenKeys makes the caller's keys arrive at a new keypad.
func (c *call) listenKeys() *callflow.Keypad {
	return callflow.Listen(c.ctx, c.caller.media, func(d rune) { c.log.Info("caller pressed a key", "digit", string(d)) })
}

// speaker plays to the caller without listening to keys.
func (c *call) speaker() *callflow.Keypad { return callflow.Speaker(c.ctx, c.caller.media) }

// askFirst runs the keypad questions of a call the rules send to a queue:
// the service style of a caller whose style is unknown, then the reason
// menu. With an answer the call is routed again. It returns false if the
// call ended.
func (c *call) askFirst() bool {
	ivr := c.s.deps.Routing.IVR
	askStyle := ivr.StyleQuestion && (c.customer.Style == "" || c.customer.Style == directory.StyleUnknown)
	askReason := ivr.ReasonMenu.On()
	if !askStyle && !askReason {
		return true
	}
	if err := c.answer(); err != nil {
		c.end(err)
		return false
	}
	keys := c.listenKeys()
	defer c.caller.media.Play(nil)
	style, reason := c.customer.Style, ""
	if askStyle {
		k, ok := c.menu(promptStyle, "12", keys)
		if !ok {
			return false
		}
		switch k {
		case '1':
			style = directory.StyleProactive
		case '2':
			style = directory.StyleReactive
		}
		c.log.Info("service style question", "key", keyAttr(k), "style", style)
		if style != c.customer.Style {
			c.mu.Lock()
			c.customer.Style = style
			c.mu.Unlock()
			if f := c.s.deps.SetStyle; f != nil {
				if err := f(c.from, style); err != nil {
					c.log.Warn("service style not remembered", "style", style, "error", err)
				}
			}
		}
	}
	if askReason {
		menu := ivr.ReasonMenu
		valid := ""
		for k := range menu.Options {
			valid += k
		}
		k, ok := c.menu(menu.Prompt, valid, keys)
		if !ok {
			return false
		}
		if k != 0 {
			reason = menu.Options[string(k)]
		}
		c.log.Info("reason menu", "key", keyAttr(k), "reason", reason)
	}
	d := c.s.deps.Router.Decide(rules.Attributes{Segment: c.customer.Segment, Style: style, Reason: reason,
		Dialled: c.hotline.Number, Caller: c.customer.Number}, c.s.now())
	c.mu.Lock()
	c.decision, c.reason = d, reason
	rec := c.rec
	c.mu.Unlock()
	if rec != nil && reason != "" {
		_ = rec.SetExtra("call_reason", reason)
	}
	c.log.Info("routed after the keypad questions", "style", style, "reason", reason, "rule", d.Rule,
		"action", d.Action, "queue", d.Queue)
	return c.ctx.Err() == nil
}

func keyAttr(k rune) string {
	if k == 0 {
		return "none"
	}
	return string(k)
}

// menu asks a one-key question (callflow.Keypad.Menu) with the IVR
// timeout. It returns the key pressed (one of valid), 0 for none, and
// false if the call ended.
func (c *call) menu(prompt, valid string, keys *callflow.Keypad) (rune, bool) {
	clip := c.message(prompt)
	if clip == nil {
		c.log.Warn("no prompt for a keypad question; not asked", "prompt", prompt)
		return 0, true
	}
	return keys.Menu(clip, c.message(promptInvalid), valid, c.s.deps.Routing.IVR.Timeout, c.log.With("prompt", prompt))
}

// waiting is what a queued caller hears and may press while no agent is
// offered; it lasts from the call's entering the queue to its end.
type waiting struct {
	qc   *acd.QueuedCall
	hold media.Source // resumed where it stopped after an announcement
	keys *callflow.Keypad
	next time.Time // when the next announcement is due (zero: not planned)
}

func (c *call) newWaiting(qc *acd.QueuedCall) *waiting {
	return &waiting{qc: qc, hold: c.holdSource(), keys: c.listenKeys()}
}

// queueDef is the configuration of the queue the call waits in now (it
// may have overflowed into another).
func (c *call) queueDef(w *waiting) config.QueueDef {
	name := w.qc.Status().Queue
	q, _ := c.s.deps.Routing.QueueByName(name)
	return q
}

// waitOffer waits for the call's next offer while the caller hears hold
// music, interrupted every so often by an announcement of their place and
// estimated wait. The queue's callback key takes the caller out of the
// queue for a callback (the call then ends with ErrCallback).
func (c *call) waitOffer(w *waiting) (acd.Offer, error) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	type result struct {
		off acd.Offer
		err error
	}
	res := make(chan result, 1)
	go func() {
		off, err := w.qc.Next(ctx)
		res <- result{off, err}
	}()
	c.caller.media.Play(w.hold)

	announce := time.NewTimer(time.Hour)
	announce.Stop()
	defer announce.Stop()
	plan := func() {
		every := time.Duration(0)
		if a := c.queueDef(w).Announce; a != nil {
			every = a.Every
		}
		if every <= 0 {
			w.next = time.Time{}
			return
		}
		if w.next.IsZero() {
			w.next = time.Now().Add(every)
		}
		announce.Reset(time.Until(w.next))
	}
	plan()
	var playing <-chan struct{} // the announcement's end
	limit := time.NewTimer(time.Hour)
	limit.Stop()
	defer limit.Stop()
	resume := func() {
		playing = nil
		limit.Stop()
		c.caller.media.Play(w.hold)
		w.next = time.Time{}
		plan()
	}
	for {
		select {
		case r := <-res:
			return r.off, r.err
		case <-announce.C:
			q := c.queueDef(w)
			if q.Announce == nil {
				continue
			}
			names := announcementPrompts(w.qc.Status(), *q.Announce, q.CallbackKey)
			src, done, d := audio.Sequence(c.prompts(names...))
			if src == nil {
				w.next = time.Time{}
				plan()
				continue
			}
			c.log.Debug("queue announcement", "prompts", strings.Join(names, " "))
			c.caller.media.Play(src)
			playing = done
			limit.Reset(d + 2*time.Second) // paced in real time; not read while on hold
		case <-playing:
			resume()
		case <-limit.C:
			resume()
		case k := <-w.keys.Keys():
			key := c.queueDef(w).CallbackKey
			if key == "" || key == config.CallbackKeyNone || string(k) != key {
				continue
			}
			number := c.customer.Number
			if number == "" {
				c.log.Info("callback key pressed, but the caller's number is unknown")
				continue
			}
			cancel()
			if r := <-res; r.err != nil && !errors.Is(r.err, context.Canceled) {
				return r.off, r.err // the call left the queue meanwhile
			}
			return acd.Offer{}, c.leaveForCallback(w.qc, number)
		}
	}
}

// leaveForCallback takes the caller out of the queue for a callback that
// keeps their place, confirms it and ends the call (ErrCallback).
func (c *call) leaveForCallback(qc *acd.QueuedCall, number string) error {
	cb, err := qc.RequestCallback(number)
	if errors.Is(err, acd.ErrCallEnded) {
		_, err = qc.Next(c.ctx) // why it ended: the maximum wait, ...
		return err
	}
	if err != nil {
		c.log.Error("callback request not stored", "error", err)
		err = fmt.Errorf("storing the callback: %w", err)
		c.end(err)
		return err
	}
	c.mu.Lock()
	c.callback, c.callbackID = true, cb.ID // ID "": the ACD has no callback store
	c.mu.Unlock()
	c.log.Info("caller left the queue for a callback", "callback", cb.ID, "number", cb.Number, "queue", cb.Queue)
	if clips := c.prompts(promptCallbackConfirm); len(clips) == 1 {
		c.speaker().Play(clips[0], false)
	}
	c.end(ErrCallback)
	return ErrCallback
}
