package callflow

import (
	"time"

	"hotline/audio"
)

// RingbackTone is what a caller who is already answered hears while an
// agent's phone rings (the ETSI ringing tone, 425 Hz 1 s on 4 s off).
func RingbackTone() audio.Reader {
	return audio.NewTone([]float64{425}, time.Second, 4*time.Second, 0.3)
}

// HoldTone is what a waiting or held caller hears when there is no hold
// music: a soft 440 Hz tone, 1 s on 4 s off ("you are still connected").
func HoldTone() audio.Reader {
	return audio.NewTone([]float64{440}, time.Second, 4*time.Second, 0.15)
}

// RingSignal is how a caller is told that an agent's phone rings.
type RingSignal int

const (
	// RingTold: nothing more to tell (the caller already got a 180).
	RingTold RingSignal = iota
	// Ring180: a 180 Ringing to the caller's INVITE.
	Ring180
	// RingTone: the ringback tone (RingbackTone) in place of what the
	// caller heard.
	RingTone
)

// TellRinging says how to tell the caller that an agent's phone rings:
// before the caller was answered, one 180 at the call's first ring (a
// later ring was already told); once answered (the caller waited in the
// queue, or the call is transferred), the ringback tone at each ring.
func TellRinging(answered, firstRing bool) RingSignal {
	switch {
	case answered:
		return RingTone
	case firstRing:
		return Ring180
	}
	return RingTold
}
