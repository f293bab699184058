package sip

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Limits on the SIP messages Hotline accepts. sipgo v1.7.2 bounds a message
// only by its total size; everything else is Hotline's.
const (
	// maxMessageBytes bounds a whole message (start line, headers, body).
	// Over TCP/TLS sipgo's stream parser refuses to buffer more: a message
	// whose header section or Content-Length goes beyond it closes the
	// connection (there is no message boundary left to answer on).
	maxMessageBytes = 64<<10 - 1
	// maxBodyBytes bounds a request body; an SDP offer is a few hundred
	// bytes, a large one a few KiB.
	maxBodyBytes = 16 << 10
	// maxHeaders bounds the number of header fields of a request.
	maxHeaders = 256
	// maxLineBytes bounds the request line and each header field value.
	maxLineBytes = 8 << 10
	// maxLogAttrBytes bounds each string logged by sipgo: it logs a whole
	// unparsable message, which a peer would otherwise turn into log lines
	// of any size.
	maxLogAttrBytes = 1024
)

func init() {
	// sipgo refuses to send any UDP message over UDPMTUSize-200 bytes
	// (1,300 by default), responses included: a request that came with a
	// few proxies' Via and Record-Route headers would get no answer at
	// all. RFC 3261 §18.2.2 sends a response back over the transport its
	// request came on, so Hotline sends on UDP whatever it can read there
	// (IP fragments it beyond the path MTU). Set once, before any
	// transport runs.
	sip.UDPMTUSize = int(sip.TransportBufferReadSize) + 200
}

// uaOptions are the sipgo user agent options: Hotline's user agent name,
// the parser bounded by maxMessageBytes, the UDP size check and sipgo's
// logging through Hotline's logger (strings cut at maxLogAttrBytes).
func (s *Server) uaOptions() []sipgo.UserAgentOption {
	parser := sip.NewParser()
	parser.MaxMessageLength = maxMessageBytes
	log := slog.New(&truncatingHandler{next: s.log.With("component", "sipgo").Handler(), max: maxLogAttrBytes})
	return []sipgo.UserAgentOption{
		sipgo.WithUserAgent(s.cfg.UserAgent),
		sipgo.WithUserAgentParser(parser),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerReadFilter(s.readFilter),
			sip.WithTransportLayerLogger(log),
		),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log),
			sip.WithTransactionLayerUnhandledResponseHandler(s.lateOK)), // linger.go
	}
}

// readFilter sees every datagram (and every TCP read) before sipgo parses
// it. sipgo reads a datagram into a buffer of sip.TransportBufferReadSize
// (32 KiB) bytes and silently cuts longer ones, so a datagram that fills
// the buffer may have been cut: rather than have it handled cut short, a
// request is answered 513 Message Too Large, statelessly, from the
// listener it came to and to its source address, if its header section is
// whole; either way it is dropped. It never returns an error: for UDP that
// would stop the listener.
func (s *Server) readFilter(props sip.TransportReadProps, data []byte) ([]byte, error) {
	if props.Transport != "UDP" || len(data) < int(sip.TransportBufferReadSize) {
		return data, nil
	}
	msg, _, err := sip.NewParser().ParseHeaders(data, false)
	req, ok := msg.(*sip.Request)
	if err != nil || !ok || req.IsAck() || req.Via() == nil || props.RemoteAddr == nil {
		info(s.floods.oversizedDatagram, "oversized SIP datagram dropped", "source", addrString(props.RemoteAddr), "bytes", len(data))
		return nil, nil
	}
	info(s.floods.oversizedRequest, "oversized SIP request", "call_id", callIDOf(req), "method", req.Method,
		"source", addrString(props.RemoteAddr), "bytes", len(data))
	req.SetSource(props.RemoteAddr.String())
	res := sip.NewResponseFromRequest(req, 513, "Message Too Large", nil)
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	res.AppendHeader(sip.NewHeader("Warning", `399 hotline "a UDP datagram must be under `+
		strconv.Itoa(int(sip.TransportBufferReadSize))+` bytes; use TCP"`))
	for _, l := range s.listeners {
		if pc, ok := l.closer.(net.PacketConn); ok && l.addr.String() == addrString(props.LocalAddr) {
			if _, err := pc.WriteTo([]byte(res.String()), props.RemoteAddr); err != nil {
				s.log.Debug("513 not sent", "call_id", callIDOf(req), "error", err)
			}
			break
		}
	}
	return nil, nil
}

// admit checks a request's SIP version, size against the limits and the
// header fields every request must have (RFC 3261 §8.1.1). A request that
// fails is answered 505, 513 or 400 (an ACK, which has no response, is
// dropped) and not handled further.
func (s *Server) admit(req *sip.Request, tx sip.ServerTransaction) bool {
	if !strings.EqualFold(req.SipVersion, "SIP/2.0") {
		info(s.floods.refused, "SIP request refused", "call_id", callIDOf(req), "method", req.Method, "source", req.Source(),
			"status", 505, "version", req.SipVersion)
		if !req.IsAck() {
			res := sip.NewResponseFromRequest(req, 505, "Version Not Supported", nil)
			res.SipVersion = "SIP/2.0"
			res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
			if err := tx.Respond(res); err != nil {
				s.log.Debug("response not sent", "status", 505, "error", err)
			}
		}
		return false
	}
	code, reason, warning := 0, "", ""
	switch {
	case len(req.Body()) > maxBodyBytes:
		code, reason, warning = 513, "Message Too Large", "body over "+strconv.Itoa(maxBodyBytes)+" bytes"
	case len(req.Headers()) > maxHeaders:
		code, reason, warning = 513, "Message Too Large", "over "+strconv.Itoa(maxHeaders)+" header fields"
	case overlong(req):
		code, reason, warning = 513, "Message Too Large", "a line over "+strconv.Itoa(maxLineBytes)+" bytes"
	case req.From() == nil:
		code, reason, warning = 400, "Bad Request", "missing From header"
	case req.To() == nil:
		code, reason, warning = 400, "Bad Request", "missing To header"
	case req.CallID() == nil || req.CallID().Value() == "":
		code, reason, warning = 400, "Bad Request", "missing Call-ID header"
	case req.CSeq() == nil:
		code, reason, warning = 400, "Bad Request", "missing CSeq header"
	case req.CSeq().MethodName != req.Method:
		code, reason, warning = 400, "Bad Request", "CSeq method does not match the request"
	default:
		return true
	}
	info(s.floods.refused, "SIP request refused", "call_id", callIDOf(req), "method", req.Method, "source", req.Source(),
		"status", code, "reason", warning)
	if !req.IsAck() {
		s.respond(req, tx, code, reason, sip.NewHeader("Warning", `399 hotline "`+warning+`"`))
	}
	return false
}

// overlong reports a request line or header field value over maxLineBytes.
func overlong(req *sip.Request) bool {
	if len(req.Recipient.String()) > maxLineBytes {
		return true
	}
	for _, h := range req.Headers() {
		if len(h.Value()) > maxLineBytes {
			return true
		}
	}
	return false
}

func callIDOf(req *sip.Request) string {
	if c := req.CallID(); c != nil {
		return c.Value()
	}
	return ""
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// truncatingHandler cuts every string attribute longer than max bytes.
type truncatingHandler struct {
	next slog.Handler
	max  int
}

func (h *truncatingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *truncatingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.cut(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *truncatingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	cut := make([]slog.Attr, len(as))
	for i, a := range as {
		cut[i] = h.attr(a)
	}
	return &truncatingHandler{next: h.next.WithAttrs(cut), max: h.max}
}

func (h *truncatingHandler) WithGroup(name string) slog.Handler {
	return &truncatingHandler{next: h.next.WithGroup(name), max: h.max}
}

func (h *truncatingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.cut(v.String()))
	case slog.KindGroup:
		g := v.Group()
		cut := make([]any, len(g))
		for i, x := range g {
			cut[i] = h.attr(x)
		}
		return slog.Group(a.Key, cut...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.cut(err.Error()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *truncatingHandler) cut(s string) string {
	if len(s) <= h.max {
		return s
	}
	return s[:h.max] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
