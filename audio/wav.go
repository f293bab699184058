package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrNotWAV is wrapped by the errors of ReadWAVHeader and WAVHeader.Decode.
var ErrNotWAV = errors.New("not a WAV file Hotline reads")

// WAV format tags (WAVE_FORMAT_*).
const (
	WAVPCM        = 1
	WAVALaw       = 6
	WAVULaw       = 7
	wavExtensible = 0xFFFE
)

// maxChunks bounds the chunks read before the data chunk.
const maxChunks = 64

// WAVHeader is what a WAV file's chunks before its audio say. It is the
// one WAV reader: prompts and hold music (sip/media), recordings
// (recording: info, repair) and the end-to-end tests' captures all read
// their files through it.
type WAVHeader struct {
	// FormatTag is WAVPCM, WAVALaw, WAVULaw or another tag; for
	// WAVE_FORMAT_EXTENSIBLE it is the sub-format's.
	FormatTag  int
	Channels   int
	Rate       int
	Bits       int
	BlockAlign int
	// DataOffset is where the audio starts in the file.
	DataOffset int64
	// DataSize is the data chunk's size field as written: 0 or past the
	// end of the file for a file whose writer did not finish it. What a
	// reader makes of that is its own choice.
	DataSize int64
	// FactOffset is the offset of the fact chunk's frame count, 0 when
	// the file has none.
	FactOffset int64
}

// ReadWAVHeader reads the chunks of a RIFF/WAVE file of size bytes up to
// its data chunk. A chunk before the data chunk that runs past the end of
// the file, a fmt chunk shorter than 16 bytes, and a file without fmt or
// data chunk are errors wrapping ErrNotWAV.
func ReadWAVHeader(r io.ReaderAt, size int64) (WAVHeader, error) {
	var h WAVHeader
	head := make([]byte, 12)
	if _, err := r.ReadAt(head, 0); err != nil {
		return h, fmt.Errorf("%w: no RIFF/WAVE header", ErrNotWAV)
	}
	if string(head[0:4]) != "RIFF" || string(head[8:12]) != "WAVE" {
		return h, fmt.Errorf("%w: no RIFF/WAVE header", ErrNotWAV)
	}
	le := binary.LittleEndian
	haveFmt := false
	chunk := make([]byte, 8)
	for i, off := 0, int64(12); i < maxChunks; i++ {
		if off+8 > size {
			break
		}
		if _, err := r.ReadAt(chunk, off); err != nil {
			return h, fmt.Errorf("%w: %v", ErrNotWAV, err)
		}
		id := string(chunk[0:4])
		n := int64(le.Uint32(chunk[4:8]))
		body := off + 8
		if id == "data" {
			if !haveFmt {
				return h, fmt.Errorf("%w: data chunk before fmt chunk", ErrNotWAV)
			}
			h.DataOffset, h.DataSize = body, n
			return h, nil
		}
		if body+n > size {
			return h, fmt.Errorf("%w: chunk %q truncated", ErrNotWAV, id)
		}
		switch id {
		case "fmt ":
			if n < 16 {
				return h, fmt.Errorf("%w: short fmt chunk", ErrNotWAV)
			}
			b := make([]byte, min(n, 26))
			if _, err := r.ReadAt(b, body); err != nil {
				return h, fmt.Errorf("%w: short fmt chunk", ErrNotWAV)
			}
			h.FormatTag = int(le.Uint16(b[0:]))
			h.Channels = int(le.Uint16(b[2:]))
			h.Rate = int(le.Uint32(b[4:]))
			h.BlockAlign = int(le.Uint16(b[12:]))
			h.Bits = int(le.Uint16(b[14:]))
			if h.FormatTag == wavExtensible && n >= 26 {
				h.FormatTag = int(le.Uint16(b[24:])) // the sub-format GUID starts with the tag
			}
			haveFmt = true
		case "fact":
			h.FactOffset = body
		}
		off = body + n + n%2 // chunks are word aligned
	}
	if !haveFmt {
		return h, fmt.Errorf("%w: no fmt chunk", ErrNotWAV)
	}
	return h, fmt.Errorf("%w: no data chunk", ErrNotWAV)
}

// Describe names the header's audio format, e.g. "2 channel(s), 8000 Hz,
// 16-bit PCM".
func (h WAVHeader) Describe() string {
	var enc string
	switch h.FormatTag {
	case WAVPCM:
		enc = fmt.Sprintf("%d-bit PCM", h.Bits)
	case WAVALaw:
		enc = "A-law"
	case WAVULaw:
		enc = "µ-law"
	default:
		enc = fmt.Sprintf("format code %d", h.FormatTag)
	}
	return fmt.Sprintf("%d channel(s), %d Hz, %s", h.Channels, h.Rate, enc)
}

// Decodable reports whether Decode reads the header's encoding: 16-bit
// PCM, 8-bit A-law or µ-law.
func (h WAVHeader) Decodable() bool {
	return (h.FormatTag == WAVPCM && h.Bits == 16) || ((h.FormatTag == WAVALaw || h.FormatTag == WAVULaw) && h.Bits == 8)
}

// Decode returns channel ch (0 is the left) of data, the file's audio
// bytes from DataOffset, as linear samples. A trailing partial frame is
// ignored.
func (h WAVHeader) Decode(data []byte, ch int) ([]int16, error) {
	if !h.Decodable() {
		return nil, fmt.Errorf("%w: unsupported audio: %s", ErrNotWAV, h.Describe())
	}
	if h.Channels < 1 || ch < 0 || ch >= h.Channels {
		return nil, fmt.Errorf("%w: %d channels, channel %d asked for", ErrNotWAV, h.Channels, ch)
	}
	if h.FormatTag == WAVPCM {
		stride := 2 * h.Channels
		out := make([]int16, len(data)/stride)
		for i := range out {
			out[i] = int16(binary.LittleEndian.Uint16(data[i*stride+2*ch:]))
		}
		return out, nil
	}
	enc := ULaw
	if h.FormatTag == WAVALaw {
		enc = ALaw
	}
	out := make([]int16, len(data)/h.Channels)
	if h.Channels == 1 {
		Decode(out, data[:len(out)], enc)
		return out, nil
	}
	one := make([]byte, len(out))
	for i := range one {
		one[i] = data[i*h.Channels+ch]
	}
	Decode(out, one, enc)
	return out, nil
}
