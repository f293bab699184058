package overload

import "time"

// TokenBucket bounds a rate of events: it holds up to burst tokens,
// refilled at rate a second, and each event admitted takes one.
type TokenBucket struct {
	rate   float64 // tokens a second; 0: no bound
	burst  float64
	tokens float64
	last   time.Time // of the last refill; zero: full
}

// NewTokenBucket returns a bucket for rate events a second (0: no
// bound), with bursts of a tenth of a second's worth (at least one),
// full.
func NewTokenBucket(rate float64) TokenBucket {
	b := max(rate/10, 1)
	return TokenBucket{rate: rate, burst: b, tokens: b}
}

// SetRate changes the rate (and the burst with it), keeping the tokens
// (at most the new burst).
func (b *TokenBucket) SetRate(rate float64) {
	b.rate, b.burst = rate, max(rate/10, 1)
	b.tokens = min(b.tokens, b.burst)
}

// Rate returns the bucket's rate (0: no bound).
func (b *TokenBucket) Rate() float64 { return b.rate }

// Take takes a token at now and reports whether there was one. A clock
// that steps back refills nothing.
func (b *TokenBucket) Take(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	switch {
	case b.last.IsZero():
		b.last = now
	case now.After(b.last):
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// TakeCall counts a new call against MaxCPS at now: false past MaxCPS
// new calls a second, with bursts of a tenth of that (ReasonMaxCPS).
// Whoever admits a new call takes its token once: the door for UDP, or
// Admit with charge set. A nil detector, or MaxCPS 0, admits every call
// (one atomic load).
func (d *Detector) TakeCall(now time.Time) bool {
	if d == nil || !d.bounded.Load() {
		return true
	}
	d.rateMu.Lock()
	defer d.rateMu.Unlock()
	return d.rate.Take(now)
}

// SetMaxCPS replaces the bound on new calls a second (MaxCPS; 0: no
// bound) while Hotline runs, as a configuration reload does. The new
// bound starts with a full burst. Negative is taken as 0. A learned rate
// only remembered (LearnMemory: the overload that set it is over) is
// dropped: the operator's bound tells what the machine carries now (a
// machine with more cores, say); one in force during an overload stays.
func (d *Detector) SetMaxCPS(rate float64) {
	if d == nil {
		return
	}
	rate = max(rate, 0)
	d.rateMu.Lock()
	d.rate = NewTokenBucket(rate)
	d.bounded.Store(rate > 0)
	d.rateMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.remembered() {
		d.setLearned(d.now(), 0, "")
	}
}

// MaxCPS returns the bound on new calls a second in force (0: none).
func (d *Detector) MaxCPS() float64 {
	if d == nil {
		return 0
	}
	d.rateMu.Lock()
	defer d.rateMu.Unlock()
	return d.rate.rate
}
