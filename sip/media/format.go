package media

import (
	"strings"

	"hotline/audio"
)

// Format is what was negotiated with one peer, in the form the packet path
// reads it: built once from the negotiated codec by FormatOf.
type Format struct {
	// PT is the RTP payload type of the audio codec.
	PT uint8
	// Encoding is the audio codec's encoding.
	Encoding audio.Encoding
	// DTMFPT is the payload type of telephone-event (RFC 4733); 0 means
	// the peer does not support it.
	DTMFPT uint8
}

// FormatOf is the format of a negotiated codec and telephone-event (nil:
// none). A codec that is not G.711 A-law is taken as µ-law: negotiation
// only accepts the two.
func FormatOf(c audio.Codec, dtmf *audio.Codec) Format {
	f := Format{PT: c.PT, Encoding: audio.ULaw}
	if strings.EqualFold(c.Name, "PCMA") {
		f.Encoding = audio.ALaw
	}
	if dtmf != nil {
		f.DTMFPT = dtmf.PT
	}
	return f
}

// Codec is the format's audio codec.
func (f Format) Codec() audio.Codec {
	if f.Encoding == audio.ALaw {
		return audio.PCMA().WithPT(f.PT)
	}
	return audio.PCMU().WithPT(f.PT)
}
