package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hotline/audio"
	"os"
	"time"
)

// WAV format codes.
const (
	wavPCM        = 1
	wavALaw       = 6
	wavULaw       = 7
	wavExtensible = 0xFFFE
)

// maxWAVBytes bounds the size of an audio file loaded into memory.
const maxWAVBytes = 64 << 20

// Audio is a decoded audio clip (8 kHz linear samples). It is immutable and
// may be shared: each Loop is an independent reader.
type Audio struct {
	samples []int16
}

// LoadAudio reads a WAV file: 8 kHz mono, 16-bit PCM, G.711 A-law or µ-law.
// Errors name the file.
func LoadAudio(path string) (*Audio, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	if st.Size() > maxWAVBytes {
		return nil, fmt.Errorf("media: %s: file too large (%d bytes, at most %d)", path, st.Size(), maxWAVBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	samples, err := parseWAV(data)
	if err != nil {
		return nil, fmt.Errorf("media: %s: %w", path, err)
	}
	return &Audio{samples: samples}, nil
}

// DecodeAudio decodes WAV data (as LoadAudio does a file); name is used in
// errors.
func DecodeAudio(name string, data []byte) (*Audio, error) {
	if len(data) > maxWAVBytes {
		return nil, fmt.Errorf("media: %s: too large (%d bytes, at most %d)", name, len(data), maxWAVBytes)
	}
	samples, err := parseWAV(data)
	if err != nil {
		return nil, fmt.Errorf("media: %s: %w", name, err)
	}
	return &Audio{samples: samples}, nil
}

// Duration is the clip's length.
func (a *Audio) Duration() time.Duration {
	return time.Duration(len(a.samples)) * time.Second / 8000
}

// Once returns a new Source playing the clip once, then silence; done is
// closed when the whole clip has been read.
func (a *Audio) Once() (src Source, done <-chan struct{}) {
	o := &once{a: a, done: make(chan struct{})}
	return o, o.done
}

type once struct {
	a    *Audio
	pos  int
	done chan struct{}
}

func (o *once) Read(samples []int16) {
	n := copy(samples, o.a.samples[o.pos:])
	o.pos += n
	clear(samples[n:])
	if o.pos == len(o.a.samples) && o.done != nil {
		close(o.done)
		o.done = nil
	}
}

// LoadWAV reads a WAV file like LoadAudio and returns a Source that plays
// it in a loop forever.
func LoadWAV(path string) (Source, error) {
	a, err := LoadAudio(path)
	if err != nil {
		return nil, err
	}
	return a.Loop(), nil
}

// Len is the clip's length in samples at 8 kHz.
func (a *Audio) Len() int { return len(a.samples) }

// Loop returns a new Source playing the clip from the start, looping forever.
func (a *Audio) Loop() Source { return &loop{a: a} }

type loop struct {
	a   *Audio
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

var errNotWAV = errors.New("not a WAV file (no RIFF/WAVE header)")

func parseWAV(b []byte) ([]int16, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errNotWAV
	}
	var (
		haveFmt                bool
		format, channels, bits uint16
		rate                   uint32
		data                   []byte
		haveData               bool
	)
	for rest := b[12:]; len(rest) >= 8; {
		id := string(rest[0:4])
		size := int(binary.LittleEndian.Uint32(rest[4:8]))
		rest = rest[8:]
		if size > len(rest) {
			if id != "data" {
				return nil, fmt.Errorf("truncated %q chunk", id)
			}
			size = len(rest) // tolerate a data chunk cut short (streamed writers)
		}
		chunk := rest[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, errors.New("short fmt chunk")
			}
			haveFmt = true
			format = binary.LittleEndian.Uint16(chunk[0:])
			channels = binary.LittleEndian.Uint16(chunk[2:])
			rate = binary.LittleEndian.Uint32(chunk[4:])
			bits = binary.LittleEndian.Uint16(chunk[14:])
			if format == wavExtensible && size >= 26 {
				format = binary.LittleEndian.Uint16(chunk[24:]) // sub-format GUID starts with the code
			}
		case "data":
			data, haveData = chunk, true
		}
		rest = rest[size:]
		if size%2 == 1 && len(rest) > 0 {
			rest = rest[1:] // chunks are word aligned
		}
	}
	if !haveFmt {
		return nil, errors.New("no fmt chunk")
	}
	var enc string
	switch format {
	case wavPCM:
		enc = fmt.Sprintf("%d-bit PCM", bits)
	case wavALaw:
		enc = "A-law"
	case wavULaw:
		enc = "µ-law"
	default:
		enc = fmt.Sprintf("format code %d", format)
	}
	okEnc := (format == wavPCM && bits == 16) || ((format == wavALaw || format == wavULaw) && bits == 8)
	if !okEnc || channels != 1 || rate != sampleRate {
		return nil, fmt.Errorf("unsupported audio: %d channel(s), %d Hz, %s (want mono 8000 Hz 16-bit PCM, A-law or µ-law)", channels, rate, enc)
	}
	if !haveData {
		return nil, errors.New("no data chunk")
	}
	var samples []int16
	switch format {
	case wavPCM:
		samples = make([]int16, len(data)/2)
		for i := range samples {
			samples[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
	case wavALaw:
		samples = make([]int16, len(data))
		audio.Decode(samples, data, audio.ALaw)
	case wavULaw:
		samples = make([]int16, len(data))
		audio.Decode(samples, data, audio.ULaw)
	}
	if len(samples) == 0 {
		return nil, errors.New("no audio samples")
	}
	return samples, nil
}
