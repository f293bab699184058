package callflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"hotline/audio"
	"hotline/routing/acd"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
)

// The caller's keypad before and while queueing:
//
//   - first contact: callers of unknown service style are asked "press 1
//     to be guided step by step, press 2 to have us do it for you"; the
//     answer is remembered (Routes.SetStyle) and routes this call;
//   - the reason menu (ivr.reason_menu) makes the key pressed the call's
//     reason, for the rules, the call record and the metrics;
//   - while waiting, periodic announcements of the caller's place and
//     estimated wait interrupt the hold music, and the queue's callback
//     key trades the wait for a callback that keeps the caller's place.
//
// Prompts are <lang>/<name>.wav of the prompt store (deploy/prompts). The
// scripts see the call through KeypadCall (sip's inbound call).

// ErrCallback ends a call whose caller left the queue for a callback.
var ErrCallback = errors.New("caller asked to be called back")

// Prompt names of the keypad questions and queue announcements.
const (
	PromptStyle           = "style"            // press 1 guided, press 2 done for you
	PromptInvalid         = "invalid"          // shared with the survey
	PromptPosition        = "position"         // "you are caller number" + number
	PromptPositionMany    = "position_many"    // more than MaxSpoken callers ahead
	PromptWait            = "wait"             // "your estimated wait is about" + number + minute(s)
	PromptMinute          = "minute"           // after one
	PromptMinutes         = "minutes"          // after two and more
	PromptWaitShort       = "wait_short"       // less than a minute
	PromptWaitLong        = "wait_long"        // more than MaxSpoken minutes
	PromptPress           = "press"            // "press" + key + callback_offer
	PromptCallbackOffer   = "callback_offer"   // "to be called back and keep your place"
	PromptCallbackConfirm = "callback_confirm" // "we will call you back ... goodbye"
)

// MaxSpoken is the largest number announced; above it the announcement
// says "more than twenty".
const MaxSpoken = 20

// NumberPrompt is the prompt of a number 0-MaxSpoken.
func NumberPrompt(n int) string { return "num_" + strconv.Itoa(n) }

// KeyPrompt is the prompt naming a keypad key.
func KeyPrompt(k string) string {
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
// not offered). Numbers above MaxSpoken are not spoken.
func announcementPrompts(st acd.CallStatus, a config.AnnounceConfig, key string) []string {
	var out []string
	if a.SaysPosition() {
		if n := st.Position + 1; n > MaxSpoken {
			out = append(out, PromptPositionMany)
		} else {
			out = append(out, PromptPosition, NumberPrompt(n))
		}
	}
	if a.SaysWait() {
		switch m := int((st.EstimatedWait + 30*time.Second) / time.Minute); {
		case m < 1:
			out = append(out, PromptWaitShort)
		case m > MaxSpoken:
			out = append(out, PromptWaitLong)
		case m == 1:
			out = append(out, PromptWait, NumberPrompt(1), PromptMinute)
		default:
			out = append(out, PromptWait, NumberPrompt(m), PromptMinutes)
		}
	}
	if key != "" && key != config.CallbackKeyNone {
		out = append(out, PromptPress, KeyPrompt(key), PromptCallbackOffer)
	}
	return out
}

// KeypadCall is an inbound call as its keypad scripts see it: the
// questions before queueing, the announcements and the callback key
// while waiting.
type KeypadCall interface {
	ActionCall
	// Prompts returns the clips of names in one language: the caller's,
	// else the survey's, else English, else any that has them all;
	// failing that each in whichever language has it. Missing clips are
	// left out.
	Prompts(names ...string) []*audio.Clip
	// Routing is the routing configuration now (it may be reloaded).
	Routing() *config.Config
	// Router decides where the call goes.
	Router() Router
	// Now is the clock of routing decisions.
	Now() time.Time
	// Dialled is the hotline number the caller dialled.
	Dialled() string
	// RememberStyle makes style the caller's service style: for this
	// call and, when the directory keeps it, for the next ones.
	RememberStyle(style string)
	// Route routes the call again: to d, with the reason chosen (a
	// recording under way notes the reason).
	Route(d rules.Decision, reason string)
	// LeftForCallback notes that the caller left the queue for callback
	// id ("": the queue keeps no callbacks).
	LeftForCallback(id string)
	// Hold is what a waiting caller hears between announcements.
	Hold() audio.Reader
}

// Router decides where a call goes (*rules.Router).
type Router interface {
	Decide(a rules.Attributes, now time.Time) rules.Decision
}

// CheckIVRPrompts makes sure the configured questions can be asked: the
// style and reason prompts must exist. Missing announcement prompts are
// only logged (the announcement leaves them out).
func CheckIVRPrompts(rc *config.Config, p *audio.Prompts, log *slog.Logger) error {
	ivr := rc.IVR
	has := p.Has
	var errs []error
	if ivr.StyleQuestion && !has(PromptStyle) {
		errs = append(errs, fmt.Errorf("ivr.style_question: no prompt %s.wav in any language of the prompts", PromptStyle))
	}
	if ivr.ReasonMenu.On() && !has(ivr.ReasonMenu.Prompt) {
		errs = append(errs, fmt.Errorf("ivr.reason_menu.prompt: no prompt %s.wav in any language of the prompts", ivr.ReasonMenu.Prompt))
	}
	for _, q := range rc.Queues {
		if q.Announce == nil || q.Announce.Every <= 0 {
			continue
		}
		for _, name := range []string{PromptPosition, PromptWait, PromptPress, PromptCallbackOffer, NumberPrompt(1)} {
			if !has(name) {
				log.Warn("queue announcements miss a prompt; it is left out", "queue", q.Name, "prompt", name+".wav")
			}
		}
	}
	return errors.Join(errs...)
}

// listenKeys makes the caller's keys arrive at a new keypad.
func listenKeys(c ActionCall) *Keypad {
	log := c.Log()
	return Listen(c.Context(), c.Caller(), func(d rune) { log.Info("caller pressed a key", "digit", string(d)) })
}

// AskFirst runs the keypad questions of a call the rules send to a queue:
// the service style of a caller whose style is unknown, then the reason
// menu. With an answer the call is routed again. It returns false if the
// call ended.
func AskFirst(c KeypadCall) bool {
	ivr := c.Routing().IVR
	customer := c.Customer()
	askStyle := ivr.StyleQuestion && (customer.Style == "" || customer.Style == directory.StyleUnknown)
	askReason := ivr.ReasonMenu.On()
	if !askStyle && !askReason {
		return true
	}
	if err := c.Answer(); err != nil {
		c.End(err)
		return false
	}
	keys := listenKeys(c)
	defer c.Caller().Play(nil)
	style, reason := customer.Style, ""
	if askStyle {
		k, ok := menu(c, ivr, PromptStyle, "12", keys)
		if !ok {
			return false
		}
		switch k {
		case '1':
			style = directory.StyleProactive
		case '2':
			style = directory.StyleReactive
		}
		c.Log().Info("service style question", "key", keyAttr(k), "style", style)
		if style != customer.Style {
			c.RememberStyle(style)
		}
	}
	if askReason {
		menuCfg := ivr.ReasonMenu
		valid := ""
		for k := range menuCfg.Options {
			valid += k
		}
		k, ok := menu(c, ivr, menuCfg.Prompt, valid, keys)
		if !ok {
			return false
		}
		if k != 0 {
			reason = menuCfg.Options[string(k)]
		}
		c.Log().Info("reason menu", "key", keyAttr(k), "reason", reason)
	}
	d := c.Router().Decide(rules.Attributes{Segment: customer.Segment, Style: style, Reason: reason,
		Dialled: c.Dialled(), Caller: customer.Number}, c.Now())
	c.Route(d, reason)
	c.Log().Info("routed after the keypad questions", "style", style, "reason", reason, "rule", d.Rule,
		"action", d.Action, "queue", d.Queue)
	return c.Context().Err() == nil
}

func keyAttr(k rune) string {
	if k == 0 {
		return "none"
	}
	return string(k)
}

// menu asks a one-key question (Keypad.Menu) with the IVR timeout. It
// returns the key pressed (one of valid), 0 for none, and false if the
// call ended.
func menu(c KeypadCall, ivr config.IVRConfig, prompt, valid string, keys *Keypad) (rune, bool) {
	clip := c.Prompt(prompt)
	if clip == nil {
		c.Log().Warn("no prompt for a keypad question; not asked", "prompt", prompt)
		return 0, true
	}
	return keys.Menu(clip, c.Prompt(PromptInvalid), valid, ivr.Timeout, c.Log().With("prompt", prompt))
}

// Waiting is what a queued caller hears and may press while no agent is
// offered; it lasts from the call's entering the queue to its end.
type Waiting struct {
	qc   *QueuedCall
	hold audio.Reader // resumed where it stopped after an announcement
	keys *Keypad
	next time.Time // when the next announcement is due (zero: not planned)
}

// NewWaiting starts listening to the keys of a caller queued as qc.
func NewWaiting(c KeypadCall, qc *QueuedCall) *Waiting {
	return &Waiting{qc: qc, hold: c.Hold(), keys: listenKeys(c)}
}

// Queued is the waiting call's place in the ACD.
func (w *Waiting) Queued() *QueuedCall { return w.qc }

// queueDef is the configuration of the queue the call waits in now (it
// may have overflowed into another).
func queueDef(c KeypadCall, w *Waiting) config.QueueDef {
	name := w.qc.status().Queue
	q, _ := c.Routing().QueueByName(name)
	return q
}

// WaitOffer waits for the call's next offer while the caller hears hold
// music, interrupted every so often by an announcement of their place and
// estimated wait. The queue's callback key takes the caller out of the
// queue for a callback (the call then ends with ErrCallback).
func WaitOffer(c KeypadCall, w *Waiting) (Offer, error) {
	ctx, cancel := context.WithCancel(c.Context())
	defer cancel()
	type result struct {
		off Offer
		err error
	}
	res := make(chan result, 1)
	go func() {
		off, err := w.qc.Next(ctx)
		res <- result{off, err}
	}()
	caller := c.Caller()
	caller.Play(w.hold)

	announce := time.NewTimer(time.Hour)
	announce.Stop()
	defer announce.Stop()
	plan := func() {
		every := time.Duration(0)
		if a := queueDef(c, w).Announce; a != nil {
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
		caller.Play(w.hold)
		w.next = time.Time{}
		plan()
	}
	for {
		select {
		case r := <-res:
			return r.off, r.err
		case <-announce.C:
			q := queueDef(c, w)
			if q.Announce == nil {
				continue
			}
			names := announcementPrompts(w.qc.status(), *q.Announce, q.CallbackKey)
			src, done, d := audio.Sequence(c.Prompts(names...))
			if src == nil {
				w.next = time.Time{}
				plan()
				continue
			}
			c.Log().Debug("queue announcement", "prompts", strings.Join(names, " "))
			caller.Play(src)
			playing = done
			limit.Reset(d + 2*time.Second) // paced in real time; not read while on hold
		case <-playing:
			resume()
		case <-limit.C:
			resume()
		case k := <-w.keys.Keys():
			key := queueDef(c, w).CallbackKey
			if key == "" || key == config.CallbackKeyNone || string(k) != key {
				continue
			}
			number := c.Customer().Number
			if number == "" {
				c.Log().Info("callback key pressed, but the caller's number is unknown")
				continue
			}
			cancel()
			if r := <-res; r.err != nil && !errors.Is(r.err, context.Canceled) {
				return r.off, r.err // the call left the queue meanwhile
			}
			return Offer{}, leaveForCallback(c, w.qc, number)
		}
	}
}

// leaveForCallback takes the caller out of the queue for a callback that
// keeps their place, confirms it and ends the call (ErrCallback).
func leaveForCallback(c KeypadCall, qc *QueuedCall, number string) error {
	cb, err := qc.requestCallback(number)
	if errors.Is(err, acd.ErrCallEnded) {
		_, err = qc.Next(c.Context()) // why it ended: the maximum wait, ...
		return err
	}
	if err != nil {
		c.Log().Error("callback request not stored", "error", err)
		err = fmt.Errorf("storing the callback: %w", err)
		c.End(err)
		return err
	}
	c.LeftForCallback(cb.ID) // ID "": the ACD has no callback store
	c.Log().Info("caller left the queue for a callback", "callback", cb.ID, "number", cb.Number, "queue", cb.Queue)
	if clips := c.Prompts(PromptCallbackConfirm); len(clips) == 1 {
		Speaker(c.Context(), c.Caller()).Play(clips[0], false)
	}
	c.End(ErrCallback)
	return ErrCallback
}
