package audio

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"
)

// maxWAVBytes bounds the size of an audio file loaded into memory.
const maxWAVBytes = 64 << 20

// SampleRate is the rate of every clip: telephony audio, 8 kHz.
const SampleRate = 8000

// Reader produces audio: 8 kHz 16-bit linear samples, the whole slice
// at each Read. Clips, tones and mixes are Readers; a media leg plays one
// (media.Source).
type Reader interface {
	// Read fills samples with the next samples.
	Read(samples []int16)
}

// Clip is a decoded audio clip (8 kHz linear samples): a prompt, hold
// music. It is immutable and may be shared: each Loop is an independent
// reader.
type Clip struct {
	samples []int16
}

// LoadClip reads a WAV file: 8 kHz mono, 16-bit PCM, G.711 A-law or µ-law.
// Errors name the file.
func LoadClip(path string) (*Clip, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	if st.Size() > maxWAVBytes {
		return nil, fmt.Errorf("audio: %s: file too large (%d bytes, at most %d)", path, st.Size(), maxWAVBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	samples, err := parseWAV(data)
	if err != nil {
		return nil, fmt.Errorf("audio: %s: %w", path, err)
	}
	return &Clip{samples: samples}, nil
}

// DecodeClip decodes WAV data (as LoadClip does a file); name is used in
// errors.
func DecodeClip(name string, data []byte) (*Clip, error) {
	if len(data) > maxWAVBytes {
		return nil, fmt.Errorf("audio: %s: too large (%d bytes, at most %d)", name, len(data), maxWAVBytes)
	}
	samples, err := parseWAV(data)
	if err != nil {
		return nil, fmt.Errorf("audio: %s: %w", name, err)
	}
	return &Clip{samples: samples}, nil
}

// Duration is the clip's length.
func (a *Clip) Duration() time.Duration {
	return time.Duration(len(a.samples)) * time.Second / 8000
}

// Once returns a new Source playing the clip once, then silence; done is
// closed at the first read after the clip's end. A player reads a frame
// only after sending the one before, so done means the last samples have
// left, not merely that they were read: a caller hanging up on done does
// not cut the clip's last frame.
func (a *Clip) Once() (src Reader, done <-chan struct{}) {
	o := &once{a: a, done: make(chan struct{})}
	return o, o.done
}

type once struct {
	a    *Clip
	pos  int
	done chan struct{}
}

func (o *once) Read(samples []int16) {
	if o.pos == len(o.a.samples) && o.done != nil {
		close(o.done)
		o.done = nil
	}
	n := copy(samples, o.a.samples[o.pos:])
	o.pos += n
	clear(samples[n:])
}

// Len is the clip's length in samples at 8 kHz.
func (a *Clip) Len() int { return len(a.samples) }

// Loop returns a new Source playing the clip from the start, looping forever.
func (a *Clip) Loop() Reader { return &loop{a: a} }

type loop struct {
	a   *Clip
	pos int
}

func (l *loop) Read(samples []int16) {
	for len(samples) > 0 {
		n := copy(samples, l.a.samples[l.pos:])
		samples = samples[n:]
		l.pos += n
		if l.pos == len(l.a.samples) {
			l.pos = 0
		}
	}
}

// parseWAV decodes a mono 8 kHz WAV file (16-bit PCM, A-law or µ-law). A
// data chunk cut short (a streamed writer) is read as far as it goes.
func parseWAV(b []byte) ([]int16, error) {
	h, err := ReadWAVHeader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	if !h.Decodable() || h.Channels != 1 || h.Rate != SampleRate {
		return nil, fmt.Errorf("unsupported audio: %s (want mono 8000 Hz 16-bit PCM, A-law or µ-law)", h.Describe())
	}
	end := min(h.DataOffset+h.DataSize, int64(len(b)))
	samples, err := h.Decode(b[h.DataOffset:end], 0)
	if err != nil {
		return nil, err
	}
	if len(samples) == 0 {
		return nil, errors.New("no audio samples")
	}
	return samples, nil
}

// Sequence plays clips one after the other, once (an announcement made of
// prompts); done is closed when the last has been read, d is their total
// length. src is nil when clips is empty.
func Sequence(clips []*Clip) (src Reader, done <-chan struct{}, d time.Duration) {
	if len(clips) == 0 {
		return nil, nil, 0
	}
	s := &seq{done: make(chan struct{})}
	for _, a := range clips {
		part, _ := a.Once()
		s.parts = append(s.parts, part)
		s.lens = append(s.lens, a.Len())
		d += a.Duration()
	}
	return s, s.done, d
}

type seq struct {
	parts []Reader
	lens  []int
	i     int // current part
	pos   int // samples read of it
	done  chan struct{}
}

func (s *seq) Read(samples []int16) {
	for len(samples) > 0 {
		if s.i == len(s.parts) {
			clear(samples)
			if s.done != nil {
				close(s.done)
				s.done = nil
			}
			return
		}
		n := min(len(samples), s.lens[s.i]-s.pos)
		s.parts[s.i].Read(samples[:n])
		s.pos += n
		samples = samples[n:]
		if s.pos == s.lens[s.i] {
			s.i, s.pos = s.i+1, 0
		}
	}
}
