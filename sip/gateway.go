package sip

import (
	"fmt"
	"net"
	"strconv"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"hotline/audio"
)

// The outbound gateway (sip.outbound): every call Hotline places to a
// number outside, a callback's customer (dialer.go) or a transfer's
// outside party (outside_transfer.go), is one INVITE built here and
// placed with ringOut. Only numbers (dialable, within allowed_prefixes,
// checked by the caller of gatewayInvite) reach its Request-URI.

// gatewayHostPort splits sip.outbound.gateway (validated host:port).
func gatewayHostPort(gateway string) (string, int, error) {
	host, port, err := net.SplitHostPort(gateway)
	if err != nil {
		return "", 0, fmt.Errorf("sip: outbound.gateway: %w", err)
	}
	pn, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("sip: outbound.gateway: bad port %q", port)
	}
	return host, pn, nil
}

// gatewayInvite is the INVITE of leg l to its number (l.peer) through the
// gateway at host:port: sip:<number>@<gateway>, From the configured
// number with the hotline's name, Call-ID callID ("" for a new one),
// offering prefer first; digest credentials and ring timeout from
// sip.outbound. Once sent, the leg's dialog is in the call table under
// its Call-ID; cleanup takes it out again.
func (s *Server) gatewayInvite(c *call, l *Leg, host string, port int, callID string, prefer audio.Codec) invite {
	cfg := s.cfg.Outbound
	target := sip.Uri{Scheme: "sip", User: l.peer, Host: host, Port: port}
	ua, req := s.inviteFor(l, outboundInvite{target: target, to: target, transport: cfg.Transport,
		user: cfg.From, name: c.state.Hotline().Name, callID: callID, prefer: prefer})
	return invite{ua: ua, req: req, timeout: cfg.RingTimeout, user: cfg.Username, password: cfg.Password,
		sent: func(dlg *sipgo.DialogClientSession) {
			l.cli = dlg
			l.callID = req.CallID().Value() // set by now when callID was ""
			s.register(l.callID, &dialogRef{call: c, leg: l})
			c.log.Info("calling through the gateway", "leg", l.role.String(), "number", l.peer, "gateway", cfg.Gateway,
				"request_uri", target.String(), "leg_call_id", l.callID)
		},
		cleanup: func() {
			if l.callID != "" { // "" if never sent
				s.unregister(l.callID)
			}
		},
	}
}
