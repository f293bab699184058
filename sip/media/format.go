package media

import (
	"strconv"
	"strings"

	"github.com/zaf/g711"
)

// Encoding is an audio codec Hotline relays and plays.
type Encoding uint8

// Supported encodings (both 8 kHz, one byte per sample).
const (
	PCMU Encoding = iota // G.711 µ-law
	PCMA                 // G.711 A-law
)

// String returns the SDP encoding name.
func (e Encoding) String() string {
	switch e {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return "Encoding(" + strconv.Itoa(int(e)) + ")"
}

// ParseEncoding maps an SDP encoding name (case-insensitive) to an Encoding.
func ParseEncoding(name string) (Encoding, bool) {
	switch {
	case strings.EqualFold(name, "PCMU"):
		return PCMU, true
	case strings.EqualFold(name, "PCMA"):
		return PCMA, true
	}
	return 0, false
}

// Format is what was negotiated with one peer.
type Format struct {
	// PT is the RTP payload type of the audio codec.
	PT uint8
	// Encoding is the audio codec.
	Encoding Encoding
	// DTMFPT is the payload type of telephone-event (RFC 4733); 0 means
	// the peer does not support it.
	DTMFPT uint8
}

// transcode converts G.711 payload bytes in place from one encoding to the other.
func transcode(p []byte, from, to Encoding) {
	switch {
	case from == PCMU && to == PCMA:
		for i, b := range p {
			p[i] = g711.Ulaw2AlawFrame(b)
		}
	case from == PCMA && to == PCMU:
		for i, b := range p {
			p[i] = g711.Alaw2UlawFrame(b)
		}
	}
}

// encode writes one G.711 byte per linear sample into dst.
func encode(dst []byte, samples []int16, e Encoding) {
	if e == PCMA {
		for i, s := range samples {
			dst[i] = g711.EncodeAlawFrame(s)
		}
		return
	}
	for i, s := range samples {
		dst[i] = g711.EncodeUlawFrame(s)
	}
}

// decode converts G.711 bytes to linear samples.
func decode(dst []int16, p []byte, e Encoding) {
	if e == PCMA {
		for i, b := range p {
			dst[i] = g711.DecodeAlawFrame(b)
		}
		return
	}
	for i, b := range p {
		dst[i] = g711.DecodeUlawFrame(b)
	}
}
