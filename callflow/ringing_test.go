package callflow_test

import (
	"testing"

	"hotline/audio"
	"hotline/callflow"
)

// TestTellRinging: one 180 before the answer, the ringback tone at every
// ring after it.
func TestTellRinging(t *testing.T) {
	for _, tc := range []struct {
		answered, first bool
		want            callflow.RingSignal
	}{
		{false, true, callflow.Ring180},
		{false, false, callflow.RingTold},
		{true, true, callflow.RingTone},
		{true, false, callflow.RingTone},
	} {
		if got := callflow.TellRinging(tc.answered, tc.first); got != tc.want {
			t.Errorf("TellRinging(answered %v, first ring %v) = %v, want %v", tc.answered, tc.first, got, tc.want)
		}
	}
}

// TestTones: the ringback (425 Hz) and hold (440 Hz) tones sound for 1 s
// and are silent for the next 4 s; the hold tone is the softer.
func TestTones(t *testing.T) {
	peak := func(r audio.Reader) (on, off int16) {
		buf := make([]int16, 5*audio.SampleRate)
		r.Read(buf)
		for i, s := range buf {
			s = max(s, -s)
			if i < audio.SampleRate {
				on = max(on, s)
			} else {
				off = max(off, s)
			}
		}
		return on, off
	}
	ringOn, ringOff := peak(callflow.RingbackTone())
	holdOn, holdOff := peak(callflow.HoldTone())
	if ringOn < 5000 || ringOff != 0 || holdOn < 2000 || holdOff != 0 || holdOn >= ringOn {
		t.Errorf("ringback peak %d then %d, hold %d then %d: want 1 s of tone then silence, the hold tone softer",
			ringOn, ringOff, holdOn, holdOff)
	}
}
