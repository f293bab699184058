// Package audio is what every layer of Hotline agrees on about sound: the
// codec value (payload type, name, clock rate) that SDP negotiates, media
// legs send and recordings decode, G.711 companding, the one WAV reader
// and the one store of prompts.
package audio

import "strings"

// TelephoneEventName is the rtpmap encoding name of RFC 4733 events.
const TelephoneEventName = "telephone-event"

// DTMFEvents is the event range Hotline announces for telephone-event.
const DTMFEvents = "0-16"

// Codec is one audio payload format, the one value SDP, media and
// recording describe a codec with: what an m= line offers, what a leg
// sends and receives, what a recording decodes.
type Codec struct {
	// PT is the RTP payload type.
	PT uint8
	// Name is the rtpmap encoding name ("PCMU", "PCMA", "telephone-event",
	// "opus"...); compare it case-insensitively. Empty for a payload type
	// that is neither static nor described by an rtpmap.
	Name string
	// Rate is the RTP clock rate in Hz (0 when Name is empty).
	Rate int
	// Fmtp holds the a=fmtp parameters for PT, "" when absent.
	Fmtp string
}

// PCMU returns G.711 µ-law, static payload type 0.
func PCMU() Codec { return Codec{PT: 0, Name: "PCMU", Rate: 8000} }

// PCMA returns G.711 A-law, static payload type 8.
func PCMA() Codec { return Codec{PT: 8, Name: "PCMA", Rate: 8000} }

// TelephoneEvent returns RFC 4733 telephone-event/8000 on payload type pt
// with events 0-16 (DTMF digits, * # and A-D, flash).
func TelephoneEvent(pt uint8) Codec {
	return Codec{PT: pt, Name: TelephoneEventName, Rate: 8000, Fmtp: DTMFEvents}
}

// WithPT returns the codec on payload type pt (a dynamic payload type, or
// the one a peer chose).
func (c Codec) WithPT(pt uint8) Codec {
	c.PT = pt
	return c
}

// Encoding is a codec's sample encoding as the media path handles it:
// one byte per 8 kHz sample, companded.
type Encoding uint8

// Supported encodings (both 8 kHz, one byte per sample).
const (
	ULaw Encoding = iota // G.711 µ-law (PCMU)
	ALaw                 // G.711 A-law (PCMA)
)

// String returns the SDP encoding name of the encoding's codec.
func (e Encoding) String() string {
	if e == ALaw {
		return "PCMA"
	}
	return "PCMU"
}

// Encoding returns the codec's sample encoding; false for a codec Hotline
// does not decode (telephone-event, comfort noise, anything else).
func (c Codec) Encoding() (Encoding, bool) {
	switch {
	case strings.EqualFold(c.Name, "PCMU"):
		return ULaw, true
	case strings.EqualFold(c.Name, "PCMA"):
		return ALaw, true
	}
	return 0, false
}
