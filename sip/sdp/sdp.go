// Package sdp implements the SDP offer/answer (RFC 3264) that Hotline needs
// for its audio legs: G.711 µ-law (PCMU, PT 0) and A-law (PCMA, PT 8) at
// 8000 Hz plus RFC 4733 telephone-events. Parsing and rendering are done
// with github.com/pion/sdp/v3; this package only extracts and produces the
// audio parameters a B2BUA cares about.
package sdp

import (
	"bytes"
	"errors"
	"fmt"
	"hotline/audio"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"
)

// ErrMalformed is wrapped by every Parse failure: empty body, SDP syntax
// error, no audio m= line, missing or unusable c= address, bad port.
var ErrMalformed = errors.New("sdp: malformed")

// ErrNoCommonCodec is wrapped by Negotiate when the offer contains none of
// the supported codecs.
var ErrNoCommonCodec = errors.New("sdp: no common codec")

// Direction is a media direction attribute (RFC 3264 §5.1).
type Direction string

// The four media directions.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// valid reports whether d is one of the four directions.
func (d Direction) valid() bool {
	switch d {
	case SendRecv, SendOnly, RecvOnly, Inactive:
		return true
	}
	return false
}

// Answer returns the direction an answerer uses for an offered direction:
// sendonly gets recvonly, recvonly gets sendonly, inactive and sendrecv
// stay. "" and unknown values count as sendrecv.
func (d Direction) Answer() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// Media describes the audio stream of a session description.
type Media struct {
	// Addr is where to send RTP: the media-level c= address (else the
	// session-level one) with the m= port. Port 0 means the stream is
	// rejected or disabled.
	Addr netip.AddrPort
	// Proto is the m= line transport, e.g. "RTP/AVP" or "RTP/SAVP". Hotline
	// only speaks plain RTP/AVP.
	Proto string
	// Codecs are the audio formats in the offerer's order, without
	// telephone-event. Static payload types are named without an rtpmap;
	// unknown ones keep their rtpmap name, or an empty name without one.
	Codecs []audio.Codec
	// DTMF is the telephone-event/8000 format, nil if not offered (events
	// at other clock rates are ignored).
	DTMF *audio.Codec
	// Direction is the media-level direction attribute, else the
	// session-level one, else sendrecv. A c= of 0.0.0.0 does not change it;
	// see OnHold.
	Direction Direction
	// PTime is a=ptime in milliseconds, 0 if absent.
	PTime int
}

// OnHold reports whether the peer does not want to receive media: its
// direction is sendonly or inactive, or its connection address is
// unspecified (0.0.0.0 or ::, the RFC 2543 way of holding a call).
func (m *Media) OnHold() bool {
	return m.Direction == SendOnly || m.Direction == Inactive || m.Addr.Addr().IsUnspecified()
}

// Stream is one m= line of a session description, kept so that an answer
// can repeat every offered m= line in order (RFC 3264 §6).
type Stream struct {
	// Media is the media type: "audio", "video"...
	Media string
	// Port is the m= port, 0 for a rejected stream.
	Port int
	// Proto is the transport, e.g. "RTP/AVP".
	Proto string
	// Formats are the m= line formats as written.
	Formats []string
}

// Session is what Hotline needs from a parsed session description.
type Session struct {
	// SessionID and Version come from the o= line.
	SessionID, Version uint64
	// Audio is the first audio m= line with a non-zero port, or the first
	// audio m= line when all of them have port 0 (then Audio.Addr has
	// port 0).
	Audio Media
	// Streams are all m= lines in order; Streams[AudioIndex] is Audio.
	Streams []Stream
	// AudioIndex is the position of Audio among Streams.
	AudioIndex int
}

// Parse parses an SDP body (CRLF or LF line ends). Every error wraps
// ErrMalformed.
func Parse(body []byte) (*Session, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	text := string(body)
	if !strings.HasSuffix(text, "\n") {
		text += "\r\n" // pion needs every line terminated
	}
	var sd psdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	s := &Session{
		SessionID:  sd.Origin.SessionID,
		Version:    sd.Origin.SessionVersion,
		Streams:    make([]Stream, 0, len(sd.MediaDescriptions)),
		AudioIndex: -1,
	}
	for i, md := range sd.MediaDescriptions {
		st := Stream{
			Media:   md.MediaName.Media,
			Port:    md.MediaName.Port.Value,
			Proto:   strings.Join(md.MediaName.Protos, "/"),
			Formats: slices.Clone(md.MediaName.Formats),
		}
		s.Streams = append(s.Streams, st)
		if st.Media != "audio" {
			continue
		}
		if s.AudioIndex < 0 || (s.Streams[s.AudioIndex].Port == 0 && st.Port != 0) {
			s.AudioIndex = i
		}
	}
	if s.AudioIndex < 0 {
		return nil, fmt.Errorf("%w: no audio m= line", ErrMalformed)
	}
	var err error
	s.Audio, err = parseAudio(&sd, sd.MediaDescriptions[s.AudioIndex], s.Streams[s.AudioIndex])
	if err != nil {
		return nil, err
	}
	return s, nil
}

// rtpmap is a parsed a=rtpmap value.
type rtpmap struct {
	name string
	rate int
}

func parseAudio(sd *psdp.SessionDescription, md *psdp.MediaDescription, st Stream) (Media, error) {
	m := Media{Proto: st.Proto, Direction: SendRecv}

	conn := md.ConnectionInformation
	if conn == nil {
		conn = sd.ConnectionInformation
	}
	if conn == nil || conn.Address == nil {
		return Media{}, fmt.Errorf("%w: no c= address for the audio stream", ErrMalformed)
	}
	ip, err := netip.ParseAddr(conn.Address.Address)
	if err != nil || ip.Zone() != "" {
		return Media{}, fmt.Errorf("%w: bad c= address %q", ErrMalformed, conn.Address.Address)
	}
	if st.Port < 0 || st.Port > 65535 { // pion checks this already
		return Media{}, fmt.Errorf("%w: bad port %d", ErrMalformed, st.Port)
	}
	m.Addr = netip.AddrPortFrom(ip.Unmap(), uint16(st.Port))

	if d, ok := direction(sd.Attributes); ok {
		m.Direction = d
	}
	if d, ok := direction(md.Attributes); ok {
		m.Direction = d
	}

	maps := map[uint8]rtpmap{}
	fmtps := map[uint8]string{}
	for _, a := range md.Attributes {
		switch a.Key {
		case "rtpmap":
			pt, rest, ok := cutPT(a.Value)
			if !ok {
				continue
			}
			if _, dup := maps[pt]; dup {
				continue
			}
			if r, ok := parseRtpmap(rest); ok {
				maps[pt] = r
			}
		case "fmtp":
			pt, rest, ok := cutPT(a.Value)
			if !ok || !lineSafe(rest) {
				continue
			}
			if _, dup := fmtps[pt]; !dup {
				fmtps[pt] = rest
			}
		case "ptime":
			if v, err := strconv.Atoi(strings.TrimSpace(a.Value)); err == nil && v > 0 {
				m.PTime = v
			}
		}
	}

	var seen [128]bool
	for _, f := range st.Formats {
		v, err := strconv.ParseUint(f, 10, 8)
		if err != nil || v > 127 || seen[v] {
			continue
		}
		seen[v] = true
		c := audio.Codec{PT: uint8(v), Fmtp: fmtps[uint8(v)]}
		if r, ok := maps[c.PT]; ok {
			c.Name, c.Rate = r.name, r.rate
		} else {
			c.Name, c.Rate = staticPT(c.PT)
		}
		if strings.EqualFold(c.Name, audio.TelephoneEventName) {
			if c.Rate == 8000 && m.DTMF == nil {
				m.DTMF = &c
			}
			continue
		}
		m.Codecs = append(m.Codecs, c)
	}
	return m, nil
}

// direction returns the first direction attribute in attrs.
func direction(attrs []psdp.Attribute) (Direction, bool) {
	for _, a := range attrs {
		if d := Direction(a.Key); d.valid() {
			return d, true
		}
	}
	return "", false
}

// cutPT splits "<pt> <rest>" as found in a=rtpmap and a=fmtp values.
func cutPT(v string) (uint8, string, bool) {
	ptStr, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return 0, "", false
	}
	pt, err := strconv.ParseUint(ptStr, 10, 8)
	if err != nil || pt > 127 {
		return 0, "", false
	}
	return uint8(pt), strings.TrimSpace(rest), true
}

// parseRtpmap parses "<name>/<rate>[/<channels>]".
func parseRtpmap(v string) (rtpmap, bool) {
	parts := strings.Split(v, "/")
	if len(parts) < 2 || len(parts) > 3 || !token(parts[0]) {
		return rtpmap{}, false
	}
	rate, err := strconv.Atoi(parts[1])
	if err != nil || rate <= 0 {
		return rtpmap{}, false
	}
	return rtpmap{name: parts[0], rate: rate}, true
}

// staticPT names the static audio payload types of RFC 3551 §6.
func staticPT(pt uint8) (string, int) {
	switch pt {
	case 0:
		return "PCMU", 8000
	case 3:
		return "GSM", 8000
	case 4:
		return "G723", 8000
	case 5:
		return "DVI4", 8000
	case 6:
		return "DVI4", 16000
	case 7:
		return "LPC", 8000
	case 8:
		return "PCMA", 8000
	case 9:
		return "G722", 8000
	case 10, 11:
		return "L16", 44100
	case 12:
		return "QCELP", 8000
	case 13:
		return "CN", 8000
	case 14:
		return "MPA", 90000
	case 15:
		return "G728", 8000
	case 16:
		return "DVI4", 11025
	case 17:
		return "DVI4", 22050
	case 18:
		return "G729", 8000
	}
	return "", 0
}

// Negotiate picks the answer's codec: the first codec in the offerer's
// order whose name is in supported (case-insensitive), keeping the
// offerer's payload type. dtmf is a copy of the offer's telephone-event
// format, nil if it has none. When nothing matches the error wraps
// ErrNoCommonCodec and names what was offered.
func Negotiate(offer *Media, supported []string) (codec audio.Codec, dtmf *audio.Codec, err error) {
	if offer == nil {
		return audio.Codec{}, nil, fmt.Errorf("%w: no offer", ErrNoCommonCodec)
	}
	for _, c := range offer.Codecs {
		if c.Name == "" {
			continue
		}
		for _, name := range supported {
			if strings.EqualFold(c.Name, name) {
				if offer.DTMF != nil {
					d := *offer.DTMF
					dtmf = &d
				}
				return c, dtmf, nil
			}
		}
	}
	offered := make([]string, 0, len(offer.Codecs))
	for _, c := range offer.Codecs {
		name := c.Name
		if name == "" {
			name = "?"
		}
		offered = append(offered, fmt.Sprintf("%d %s/%d", c.PT, name, c.Rate))
	}
	return audio.Codec{}, nil, fmt.Errorf("%w: offered [%s], supported [%s]",
		ErrNoCommonCodec, strings.Join(offered, ", "), strings.Join(supported, ", "))
}
