package callflow

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"hotline/audio"
)

// Player is a leg as keypad scripts use it: audio played to its peer and
// the keys its peer presses. A sip/media leg is one.
type Player interface {
	// Play replaces what the leg plays to its peer; nil stops.
	Play(src audio.Reader)
	// OnDTMF sets the function called for each key the peer presses.
	OnDTMF(f func(digit rune))
}

// Keypad plays prompts to a leg and gathers the keys its peer presses,
// until ctx (the call's) ends. It is the building block of every keypad
// script: the keypad questions, the survey, the keys of a waiting caller.
type Keypad struct {
	ctx  context.Context
	leg  Player
	keys chan rune // nil: keys are not listened to
	// held is the key that stopped a prompt, read before the channel
	// (putting it back there could reorder it after a key pressed since).
	held []rune
}

// keyBuffer is how many keys wait to be read; more are dropped.
const keyBuffer = 32

// Listen makes the keys the peer of leg presses arrive at a new Keypad
// (each is passed to onKey first, when set). It replaces any Keypad
// listening to leg before.
func Listen(ctx context.Context, leg Player, onKey func(digit rune)) *Keypad {
	k := &Keypad{ctx: ctx, leg: leg, keys: make(chan rune, keyBuffer)}
	leg.OnDTMF(func(d rune) {
		if onKey != nil {
			onKey(d)
		}
		select {
		case k.keys <- d:
		default:
		}
	})
	return k
}

// Speaker is a Keypad that hears no keys: for what is played to a leg
// without waiting for an answer.
func Speaker(ctx context.Context, leg Player) *Keypad {
	return &Keypad{ctx: ctx, leg: leg}
}

// Keys are the keys pressed and not read yet.
func (k *Keypad) Keys() <-chan rune { return k.keys }

// Play plays clip once and waits for its end; with bargeIn a key pressed
// stops it (the key is the first Collect reads). It returns false if ctx
// ended.
func (k *Keypad) Play(clip *audio.Clip, bargeIn bool) bool {
	src, done := clip.Once()
	k.leg.Play(src)
	// The prompt is paced in real time; allow a little slack.
	limit := time.NewTimer(clip.Duration() + 2*time.Second)
	defer limit.Stop()
	for {
		select {
		case <-done:
			return true
		case <-limit.C:
			return true
		case <-k.ctx.Done():
			return false
		case key := <-k.keys: // never when keys is nil
			if bargeIn {
				k.leg.Play(nil)
				k.held = append(k.held, key) // to be read by Collect
				return true
			}
		}
	}
}

// Tone plays src for d, then stops it; false if ctx ended meanwhile.
func (k *Keypad) Tone(src audio.Reader, d time.Duration) bool {
	k.leg.Play(src)
	defer k.leg.Play(nil)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-k.ctx.Done():
		return false
	}
}

// Collect plays prompt (a key stops it) and gathers up to maxDigits keys,
// '#' ending early, within timeout after the prompt and interDigit
// between keys. Keys pressed before the question do not count. ok is
// false if ctx ended.
func (k *Keypad) Collect(prompt *audio.Clip, maxDigits int, timeout, interDigit time.Duration) (input string, ok bool) {
	k.held = k.held[:0]
	for len(k.keys) > 0 {
		<-k.keys
	}
	if !k.Play(prompt, true) {
		return "", false
	}
	wait := time.NewTimer(timeout)
	defer wait.Stop()
	for {
		var key rune
		if len(k.held) > 0 {
			key, k.held = k.held[0], k.held[1:]
		} else {
			select {
			case <-k.ctx.Done():
				return input, false
			case <-wait.C:
				return input, true
			case key = <-k.keys:
			}
		}
		if key == '#' {
			return input, true
		}
		input += string(key)
		if len(input) >= maxDigits {
			return input, true
		}
		wait.Reset(interDigit)
	}
}

// Menu asks a one-key question: the prompt (a key stops it), then
// timeout for a key; after no or an invalid key the peer hears invalid
// (when set) and the question once more. It returns the key pressed (one
// of valid), 0 for none, and false if ctx ended.
func (k *Keypad) Menu(prompt, invalid *audio.Clip, valid string, timeout time.Duration, log *slog.Logger) (rune, bool) {
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 && invalid != nil && !k.Play(invalid, false) {
			return 0, false
		}
		input, ok := k.Collect(prompt, 1, timeout, timeout)
		if !ok {
			return 0, false
		}
		if len(input) == 1 && strings.ContainsRune(valid, rune(input[0])) {
			return rune(input[0]), true
		}
		log.Info("keypad question: no valid key", "keys", input, "attempt", attempt+1)
	}
	return 0, true
}
