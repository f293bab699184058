package sdp

import (
	"hotline/audio"
	"net/netip"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"
)

// Local describes Hotline's side of a session, as an offer or an answer.
type Local struct {
	// SessionID and Version go into o=; bump Version whenever the
	// description changes within a dialog.
	SessionID, Version uint64
	// Addr is where we receive RTP. An invalid address renders as 0.0.0.0.
	Addr netip.AddrPort
	// Codecs are the audio formats in preference order.
	Codecs []audio.Codec
	// DTMF is the telephone-event format, nil for none. Its fmtp defaults
	// to "0-16".
	DTMF *audio.Codec
	// Direction is the media direction; "" (or anything invalid) means
	// sendrecv.
	Direction Direction
	// PTime is a=ptime in milliseconds, omitted when 0.
	PTime int
	// Streams and AudioIndex, when answering an offer with several m=
	// lines, are the offer's Session.Streams and Session.AudioIndex: every
	// stream but the audio one is then repeated with port 0 (rejected), as
	// RFC 3264 §6 requires. With no Streams, or AudioIndex out of range,
	// the body has just the audio m= line.
	Streams    []Stream
	AudioIndex int
}

// Marshal renders a complete SDP body with CRLF line ends:
//
//	v=0
//	o=hotline <SessionID> <Version> IN IP4 <addr>
//	s=Hotline
//	c=IN IP4 <addr>
//	t=0 0
//	m=audio <port> RTP/AVP <pts...>
//	a=rtpmap:<pt> <name>/<rate>    (every codec, static ones included)
//	a=fmtp:<pt> <fmtp>             (codecs with fmtp; 0-16 for telephone-event)
//	a=ptime:<PTime>                (if non-zero)
//	a=<direction>
//
// IPv6 addresses render as IN IP6. Codecs with a payload type already
// listed, and values that would break the line structure, are skipped.
func (l *Local) Marshal() []byte {
	ip := l.Addr.Addr().Unmap().WithZone("")
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	addrType := "IP4"
	if ip.Is6() {
		addrType = "IP6"
	}

	am := &psdp.MediaDescription{
		MediaName: psdp.MediaName{
			Media:  "audio",
			Port:   psdp.RangedPort{Value: int(l.Addr.Port())},
			Protos: []string{"RTP", "AVP"},
		},
	}
	var seen [256]bool
	add := func(c audio.Codec, defFmtp string) {
		if seen[c.PT] {
			return
		}
		seen[c.PT] = true
		am.MediaName.Formats = append(am.MediaName.Formats, strconv.Itoa(int(c.PT)))
		if c.Name != "" && token(c.Name) && !strings.Contains(c.Name, "/") {
			rate := c.Rate
			if rate <= 0 {
				rate = 8000
			}
			am.Attributes = append(am.Attributes,
				psdp.NewAttribute("rtpmap", strconv.Itoa(int(c.PT))+" "+c.Name+"/"+strconv.Itoa(rate)))
		}
		fmtp := strings.TrimSpace(c.Fmtp)
		if fmtp == "" {
			fmtp = defFmtp
		}
		if fmtp != "" && lineSafe(fmtp) {
			am.Attributes = append(am.Attributes, psdp.NewAttribute("fmtp", strconv.Itoa(int(c.PT))+" "+fmtp))
		}
	}
	for _, c := range l.Codecs {
		add(c, "")
	}
	if l.DTMF != nil {
		d := *l.DTMF
		if d.Name == "" {
			d.Name = audio.TelephoneEventName
		}
		add(d, audio.DTMFEvents)
	}
	if l.PTime > 0 {
		am.Attributes = append(am.Attributes, psdp.NewAttribute("ptime", strconv.Itoa(l.PTime)))
	}
	dir := l.Direction
	if !dir.valid() {
		dir = SendRecv
	}
	am.Attributes = append(am.Attributes, psdp.NewPropertyAttribute(string(dir)))

	media := []*psdp.MediaDescription{am}
	if l.AudioIndex >= 0 && l.AudioIndex < len(l.Streams) {
		media = make([]*psdp.MediaDescription, 0, len(l.Streams))
		for i, st := range l.Streams {
			if i == l.AudioIndex {
				media = append(media, am)
			} else if md := rejected(st); md != nil {
				media = append(media, md)
			}
		}
	}

	addr := ip.String()
	sd := psdp.SessionDescription{
		Origin: psdp.Origin{
			Username:       "hotline",
			SessionID:      l.SessionID,
			SessionVersion: l.Version,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: addr,
		},
		SessionName: "Hotline",
		ConnectionInformation: &psdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &psdp.Address{Address: addr},
		},
		TimeDescriptions:  []psdp.TimeDescription{{}},
		MediaDescriptions: media,
	}
	b, _ := sd.Marshal() // pion's Marshal never fails
	return b
}

// rejected renders an offered stream declined with port 0, or nil when the
// stream cannot be rendered safely.
func rejected(st Stream) *psdp.MediaDescription {
	if !token(st.Media) {
		return nil
	}
	proto := st.Proto
	if proto == "" {
		proto = "RTP/AVP"
	}
	if !token(proto) {
		return nil
	}
	md := &psdp.MediaDescription{MediaName: psdp.MediaName{
		Media:  st.Media,
		Protos: strings.Split(proto, "/"),
	}}
	for _, f := range st.Formats {
		if token(f) {
			md.MediaName.Formats = append(md.MediaName.Formats, f)
		}
	}
	return md
}

// token reports whether s is non-empty and free of whitespace and control
// characters.
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// lineSafe reports whether s can be the rest of an SDP line.
func lineSafe(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00")
}
