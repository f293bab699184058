package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/audio"
	"hotline/sip/media"
	"hotline/sip/sdp"
)

// Role is who a leg reaches.
type Role uint8

// Roles of a leg.
const (
	// RoleCaller: a caller's INVITE to a hotline number (or a feature
	// code), answered by Hotline.
	RoleCaller Role = iota
	// RoleAgent: an INVITE Hotline placed to an agent's phone.
	RoleAgent
	// RoleCustomer: an INVITE Hotline placed to a customer through the
	// outbound gateway (a callback).
	RoleCustomer
	// RoleOutside: an INVITE Hotline placed to an outside number through
	// the outbound gateway, a transfer's target (outside_transfer.go).
	RoleOutside
)

// String names the role in logs.
func (r Role) String() string {
	switch r {
	case RoleCaller:
		return "caller"
	case RoleAgent:
		return "agent"
	case RoleCustomer:
		return "customer"
	case RoleOutside:
		return "outside"
	}
	return "role?"
}

// Leg is one SIP dialog Hotline is a party to, in either direction, with
// its media leg and local SDP: the caller's INVITE Hotline answers (server
// side) or an INVITE Hotline places to an agent or a customer (client
// side). Answer, offer, re-INVITE and hang-up are the same for every leg,
// whatever its role.
type Leg struct {
	role   Role
	peer   string // the agent's username, the customer's or caller's number
	callID string
	// Exactly one of srv (the peer called Hotline) and cli (Hotline called
	// the peer) is set once the dialog exists.
	srv   *sipgo.DialogServerSession
	cli   *sipgo.DialogClientSession
	media *media.Leg
	acked bool // client side: the 200 OK was acknowledged
	// byeAfterAck (server side): the teardown's BYE waits for the peer's
	// ACK in the background (closingLeg.Bye; read by its Release).
	byeAfterAck bool
	// answerTook (client side) is how long the peer took to answer
	// Hotline's INVITE: sent → its 2xx handled.
	answerTook time.Duration

	mu     sync.Mutex
	codec  audio.Codec  // negotiated with the peer
	format media.Format // codec and telephone-event as the media path reads them
	local  sdp.Local    // Hotline's SDP towards the peer
}

// newLeg opens the media (an RTP port pair) of a leg.
func (s *Server) newLeg(role Role, peer string) (*Leg, error) {
	m, err := media.NewLeg(s.deps.Media, s.ports, s.log)
	if err != nil {
		return nil, fmt.Errorf("%s media: %w", role, err)
	}
	return &Leg{role: role, peer: peer, media: m}, nil
}

// Context ends when the leg's dialog ends (a BYE either way, a failure).
func (l *Leg) Context() context.Context {
	if l.srv != nil {
		return l.srv.Context()
	}
	return l.cli.Context()
}

// Codec returns the codec negotiated with the peer.
func (l *Leg) Codec() audio.Codec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.codec
}

// Format returns the negotiated codec and telephone-event as the media
// path reads them.
func (l *Leg) Format() media.Format {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.format
}

// Peer is the agent's username, the customer's or caller's number.
func (l *Leg) Peer() string { return l.peer }

// HungUp is closed when the leg's dialog ends (Context).
func (l *Leg) HungUp() <-chan struct{} { return l.Context().Done() }

// MediaDone is closed when the leg's media stops.
func (l *Leg) MediaDone() <-chan struct{} { return l.media.Done() }

// MediaErr says why the leg's media stopped (nil: Hotline closed it).
func (l *Leg) MediaErr() error { return l.media.Err() }

// Play plays src to the peer instead of what it hears; nil stops.
func (l *Leg) Play(src audio.Reader) { l.media.Play(src) }

// Bye hangs the leg up.
func (l *Leg) Bye(ctx context.Context) error {
	if l.srv != nil {
		return l.srv.Bye(ctx)
	}
	return l.cli.Bye(ctx)
}

// inviteRequest is the INVITE that made the dialog, nil before it exists.
func (l *Leg) inviteRequest() *sip.Request {
	switch {
	case l.srv != nil:
		return l.srv.InviteRequest
	case l.cli != nil:
		return l.cli.InviteRequest
	}
	return nil
}

// readRequest hands an in-dialog request (re-INVITE) to the dialog.
func (l *Leg) readRequest(req *sip.Request, tx sip.ServerTransaction) error {
	if l.srv != nil {
		return l.srv.ReadRequest(req, tx)
	}
	return l.cli.ReadRequest(req, tx)
}

// readBye hands the peer's BYE to the dialog.
func (l *Leg) readBye(req *sip.Request, tx sip.ServerTransaction) error {
	if l.srv != nil {
		return l.srv.ReadBye(req, tx)
	}
	return l.cli.ReadBye(req, tx)
}

// setNegotiated makes codec and dtmf the leg's: the media sends and
// expects them and the local SDP (of answers to re-INVITEs) names them.
func (l *Leg) setNegotiated(m *sdp.Media, codec audio.Codec, dtmf *audio.Codec) {
	l.mu.Lock()
	l.codec = codec
	l.format = media.FormatOf(codec, dtmf)
	l.local.Codecs, l.local.DTMF = []audio.Codec{codec}, dtmf
	f := l.format
	l.mu.Unlock()
	l.media.SetRemote(m.Addr, f)
	l.media.SetHold(m.OnHold())
}

// offer sets the leg's local SDP to Hotline's offer (PCMU and PCMA, prefer
// first, and telephone-event) and returns it.
func (l *Leg) offer(prefer audio.Codec) []byte {
	first, other := audio.PCMU(), audio.PCMA()
	if strings.EqualFold(prefer.Name, "PCMA") {
		first, other = audio.PCMA(), audio.PCMU()
	}
	te := audio.TelephoneEvent(dtmfPT)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.local = sdp.Local{
		SessionID: rand.Uint64() >> 1,
		Version:   1,
		Addr:      l.media.LocalAddr(),
		Codecs:    []audio.Codec{first, other},
		DTMF:      &te,
		PTime:     20,
	}
	return l.local.Marshal()
}

// answerTo sets the leg's local SDP to the answer to offer (already
// negotiated to codec and dtmf) and points the media at the offerer.
func (l *Leg) answerTo(offer *sdp.Session, codec audio.Codec, dtmf *audio.Codec) {
	l.mu.Lock()
	l.local = sdp.Local{
		SessionID: rand.Uint64() >> 1,
		Version:   1,
		Addr:      l.media.LocalAddr(),
		Direction: offer.Audio.Direction.Answer(),
		PTime:     20,
		// An answer repeats every offered m= line; the others are refused.
		Streams:    offer.Streams,
		AudioIndex: offer.AudioIndex,
	}
	l.mu.Unlock()
	l.setNegotiated(&offer.Audio, codec, dtmf)
}

// localSDP is the leg's current local SDP.
func (l *Leg) localSDP() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.local.Marshal()
}

// errNoUsableSDP is an answer (200 OK) Hotline cannot use.
var errNoUsableSDP = errors.New("no usable SDP in the answer")

// takeAnswer reads the SDP of the 200 OK to the leg's INVITE: the
// negotiated codec becomes the leg's and the media is pointed at the peer.
func (l *Leg) takeAnswer() error {
	ans, err := sdp.Parse(l.cli.InviteResponse.Body())
	if err != nil {
		return fmt.Errorf("%w: %w", errNoUsableSDP, err)
	}
	codec, dtmf, err := sdp.Negotiate(&ans.Audio, supportedCodecs)
	if err != nil {
		return fmt.Errorf("%w: %w", errNoUsableSDP, err)
	}
	l.setNegotiated(&ans.Audio, codec, dtmf)
	return nil
}

// reInvite applies the SDP of a re-INVITE (hold, unhold, a new address)
// and returns the body of the answer and the offer (nil for a session
// refresh without SDP, which gets the current session). status is 400 or
// 488 when the offer is refused.
func (l *Leg) reInvite(body []byte) (answer []byte, offer *sdp.Session, status int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(body) > 0 {
		offer, err = sdp.Parse(body)
		if err != nil {
			return nil, nil, 400, err
		}
		codec, dtmf, err := sdp.Negotiate(&offer.Audio, []string{l.local.Codecs[0].Name})
		if err != nil {
			return nil, offer, 488, err
		}
		dir := offer.Audio.Direction.Answer()
		if dir != l.local.Direction || codec.PT != l.local.Codecs[0].PT {
			l.local.Version++
		}
		l.local.Direction = dir
		l.local.Codecs, l.local.DTMF = []audio.Codec{codec}, dtmf
		l.codec, l.format = codec, media.FormatOf(codec, dtmf)
		l.media.SetRemote(offer.Audio.Addr, l.format)
		l.media.SetHold(offer.Audio.OnHold())
	}
	return l.local.Marshal(), offer, 200, nil
}

// uaFor is the dialog UA of a transport ("udp", "tcp", "tls"; any case),
// UDP's when Hotline does not listen on that transport, and the transport
// it stands for.
func (s *Server) uaFor(transport string) (*sipgo.DialogUA, string) {
	transport = strings.ToLower(transport)
	if ua := s.dialogUA[transport]; ua != nil {
		return ua, transport
	}
	return s.dialogUA["udp"], "udp"
}

// outboundInvite is an INVITE from Hotline to target over transport
// (sent to dest when set: a phone's registered source address), from
// user (display name name), carrying the leg's SDP offer.
type outboundInvite struct {
	target    sip.Uri
	to        sip.Uri
	transport string
	dest      string
	user      string
	name      string
	callID    string // "" for a new one
	prefer    audio.Codec
	// routes are Route headers the request is sent through (a phone's
	// Path, RFC 3327); empty: straight to target (or dest).
	routes []sip.Header
}

// inviteFor builds the INVITE of o for leg l (its offer preferring
// o.prefer) and returns it with the dialog UA to send it with.
func (s *Server) inviteFor(l *Leg, o outboundInvite) (*sipgo.DialogUA, *sip.Request) {
	ua, transport := s.uaFor(o.transport)
	req := sip.NewRequest(sip.INVITE, o.target)
	req.SetTransport(strings.ToUpper(transport))
	for _, h := range o.routes {
		req.AppendHeader(h)
	}
	if o.dest != "" {
		req.SetDestination(o.dest)
	}
	if o.callID != "" {
		callID := sip.CallIDHeader(o.callID)
		req.AppendHeader(&callID)
	}
	from := &sip.FromHeader{
		DisplayName: o.name,
		Address:     sip.Uri{Scheme: "sip", User: o.user, Host: ua.ContactHDR.Address.Host},
		Params:      sip.NewParams(),
	}
	if from.Address.User == "" {
		from.Address.User = "anonymous"
	}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: o.to})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.UserAgent))
	req.SetBody(l.offer(o.prefer))
	return ua, req
}

// acceptLeg makes the leg of an INVITE Hotline answers, once its offer is
// negotiated to codec and dtmf: its media, its dialog and its answer SDP
// (not sent yet). On failure status is what to answer: 503 (no RTP port)
// or 400 (an INVITE the dialog layer refuses).
func (s *Server) acceptLeg(req *sip.Request, tx sip.ServerTransaction, offer *sdp.Session, codec audio.Codec,
	dtmf *audio.Codec) (*Leg, int, error) {
	l, err := s.newLeg(RoleCaller, req.From().Address.User)
	if err != nil {
		return nil, 503, err
	}
	ua, _ := s.uaFor(req.Transport())
	dlg, err := ua.ReadInvite(req, tx)
	if err != nil {
		_ = l.media.Close()
		return nil, 400, err
	}
	l.srv, l.callID = dlg, req.CallID().Value()
	l.answerTo(offer, codec, dtmf)
	return l, 0, nil
}
