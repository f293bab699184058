package audio

import (
	"math"
	"time"
)

// toneRate is the sample rate of every Reader: 8 kHz.
const toneRate = 8000

// tone is a Reader of summed sine waves with an on/off cadence.
type tone struct {
	freqs  []float64
	amp    float64 // peak of each sine
	on     int     // samples on per cycle; 0 = continuous
	period int     // samples per on+off cycle
	n      int64   // samples produced
}

// NewTone returns a Reader of the sum of sine waves at freqs (Hz), on for
// on and silent for off, repeating; off = 0 (or on = 0) means continuous.
// amplitude is the peak of the sum as a fraction of full scale (0-1). For
// example a North American ringback is
// NewTone([]float64{440, 480}, 2*time.Second, 4*time.Second, 0.3).
func NewTone(freqs []float64, on, off time.Duration, amplitude float64) Reader {
	t := &tone{freqs: append([]float64(nil), freqs...)}
	amplitude = min(max(amplitude, 0), 1)
	if len(freqs) > 0 {
		t.amp = amplitude * math.MaxInt16 / float64(len(freqs))
	}
	if on > 0 && off > 0 {
		t.on = int(on * toneRate / time.Second)
		t.period = t.on + int(off*toneRate/time.Second)
	}
	return t
}

func (t *tone) Read(samples []int16) {
	for i := range samples {
		n := t.n
		t.n++
		if t.period > 0 {
			pos := int(n % int64(t.period))
			if pos >= t.on {
				samples[i] = 0
				continue
			}
			n = int64(pos) // restart the phase each cycle: clean tone bursts
		}
		var v float64
		for _, f := range t.freqs {
			v += math.Sin(2 * math.Pi * f * float64(n) / toneRate)
		}
		samples[i] = int16(math.Round(v * t.amp))
	}
}
