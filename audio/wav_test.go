package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// wavBytes builds a WAV file: a fmt chunk (tag, channels, bits), optional
// extra chunks before the data chunk, and data with declared size n (-1:
// its real length).
func wavBytes(tag, channels, bits int, extra []byte, data []byte, n int) []byte {
	le := binary.LittleEndian
	var b []byte
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, 0)
	b = append(b, "WAVE"...)
	b = append(b, "fmt "...)
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, uint16(tag))
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, 8000)
	b = le.AppendUint32(b, uint32(8000*channels*bits/8))
	b = le.AppendUint16(b, uint16(channels*bits/8))
	b = le.AppendUint16(b, uint16(bits))
	b = append(b, extra...)
	b = append(b, "data"...)
	if n < 0 {
		n = len(data)
	}
	b = le.AppendUint32(b, uint32(n))
	return append(b, data...)
}

func header(t *testing.T, b []byte) WAVHeader {
	t.Helper()
	h, err := ReadWAVHeader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestWAVStereoPCMChannels(t *testing.T) {
	le := binary.LittleEndian
	var data []byte
	for i := range 4 {
		data = le.AppendUint16(data, uint16(int16(100+i)))  // left
		data = le.AppendUint16(data, uint16(int16(-100-i))) // right
	}
	fact := append([]byte("fact"), 4, 0, 0, 0, 4, 0, 0, 0)
	b := wavBytes(WAVPCM, 2, 16, fact, data, -1)
	h := header(t, b)
	if h.Channels != 2 || h.Rate != 8000 || h.Bits != 16 || h.BlockAlign != 4 || h.DataSize != 16 ||
		h.DataOffset != int64(len(b)-16) || h.FactOffset != 44 {
		t.Fatalf("header %+v", h)
	}
	for ch, want := range [][]int16{{100, 101, 102, 103}, {-100, -101, -102, -103}} {
		got, err := h.Decode(b[h.DataOffset:], ch)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("channel %d: %v %v, want %v", ch, got, err, want)
		}
	}
	if _, err := h.Decode(b[h.DataOffset:], 2); !errors.Is(err, ErrNotWAV) {
		t.Errorf("channel 2 of 2: %v, want ErrNotWAV", err)
	}
}

func TestWAVG711(t *testing.T) {
	pcm := []int16{0, 1000, -1000, 8000}
	for _, tc := range []struct {
		tag int
		enc Encoding
	}{{WAVALaw, ALaw}, {WAVULaw, ULaw}} {
		data := make([]byte, len(pcm))
		Encode(data, pcm, tc.enc)
		want := make([]int16, len(pcm))
		Decode(want, data, tc.enc)
		b := wavBytes(tc.tag, 1, 8, nil, data, -1)
		h := header(t, b)
		got, err := h.Decode(b[h.DataOffset:], 0)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("tag %d: %v %v, want %v", tc.tag, got, err, want)
		}
	}
}

func TestWAVBadFiles(t *testing.T) {
	good := wavBytes(WAVPCM, 1, 16, nil, make([]byte, 8), -1)
	truncated := wavBytes(WAVPCM, 1, 16, append([]byte("LIST"), 0xff, 0, 0, 0), nil, 0)
	noData := good[:36]
	dataFirst := append(append([]byte("RIFF\x00\x00\x00\x00WAVE"), "data\x02\x00\x00\x00"...), 0, 0)
	for name, b := range map[string][]byte{
		"not RIFF": []byte("RIFX....WAVE"), "short": []byte("RIFF"), "chunk past the end": truncated,
		"no data chunk": noData, "data before fmt": dataFirst,
	} {
		if _, err := ReadWAVHeader(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrNotWAV) {
			t.Errorf("%s: %v, want ErrNotWAV", name, err)
		}
	}
	// A data size past the end is the writer's business: the header
	// says what was written, readers cap it.
	cut := wavBytes(WAVPCM, 1, 16, nil, make([]byte, 8), 1000)
	if h := header(t, cut); h.DataSize != 1000 {
		t.Errorf("declared data size %d, want 1000", h.DataSize)
	}
	h := header(t, wavBytes(WAVPCM, 1, 24, nil, make([]byte, 9), -1))
	if _, err := h.Decode(make([]byte, 9), 0); !errors.Is(err, ErrNotWAV) || h.Decodable() {
		t.Errorf("24-bit PCM: %v, want ErrNotWAV", err)
	}
}
