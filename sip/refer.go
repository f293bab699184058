package sip

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Refusal is a request Hotline refuses with a SIP status: Code and Reason
// go into the response (a softphone shows the reason), Err is the cause
// for the log. Errors of the transfer and monitoring blocks are
// Refusals, so one errors.As gives the answer.
type Refusal struct {
	Code   int
	Reason string
	Err    error
}

func (r *Refusal) Error() string {
	if r.Err == nil {
		return fmt.Sprintf("%d %s", r.Code, r.Reason)
	}
	return fmt.Sprintf("%d %s: %v", r.Code, r.Reason, r.Err)
}

func (r *Refusal) Unwrap() error { return r.Err }

func refuse(code int, reason, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Reason: reason, Err: fmt.Errorf(format, args...)}
}

// StatusOf returns the SIP status and reason phrase for err: a Refusal's,
// or 500 Server Internal Error.
func StatusOf(err error) (int, string) {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Code, r.Reason
	}
	return 500, "Server Internal Error"
}

// Refer is a REFER request (RFC 3515) as Hotline acts on it: the target
// to send the other party to and, for an attended transfer, the dialog
// it replaces (RFC 3891, carried in Refer-To's URI headers).
type Refer struct {
	// Target is Refer-To's URI without its headers (sip, sips or tel).
	Target sip.Uri
	// Replaces is set for an attended transfer: the dialog (as the
	// target sees it) whose other party takes the referred party's place.
	Replaces *Replaces
	// ReferredBy is who asked, from Referred-By or else From.
	ReferredBy sip.Uri
}

// ParseRefer reads a REFER. A request without exactly one Refer-To, or
// one Hotline cannot read, is refused 400; a URI scheme other than sip,
// sips or tel 416; a malformed Replaces 400. Whether the referrer may
// transfer and whether the target exists is the caller's business.
func ParseRefer(req *sip.Request) (Refer, error) {
	var r Refer
	if req.Method != sip.REFER {
		return r, refuse(405, "Method Not Allowed", "%s is not a REFER", req.Method)
	}
	hs := req.GetHeaders("Refer-To")
	if len(hs) == 0 {
		hs = req.GetHeaders("r") // compact form
	}
	if len(hs) != 1 {
		return r, refuse(400, "Exactly One Refer-To Required", "REFER has %d Refer-To headers", len(hs))
	}
	value := strings.TrimSpace(hs[0].Value())
	if scheme, _, _ := strings.Cut(strings.TrimLeft(value, "<"), ":"); strings.EqualFold(scheme, "tel") {
		// sipgo parses sip URIs only: take a tel URI as its number.
		num := strings.TrimSuffix(strings.TrimPrefix(value, "<"), ">")
		num, _, _ = strings.Cut(num[len(scheme)+1:], ";")
		if num == "" {
			return r, refuse(400, "Bad Refer-To", "empty tel URI in Refer-To")
		}
		r.Target = sip.Uri{Scheme: "tel", User: num}
	} else {
		var params sip.HeaderParams
		if _, err := sip.ParseAddressValue(value, &r.Target, &params); err != nil {
			return r, refuse(400, "Bad Refer-To", "Refer-To %q: %w", value, err)
		}
		switch strings.ToLower(r.Target.Scheme) {
		case "sip", "sips":
		default:
			return r, refuse(416, "Unsupported URI Scheme", "Refer-To scheme %q", r.Target.Scheme)
		}
	}
	if r.Target.Headers != nil {
		if raw, ok := headerParam(r.Target.Headers, "Replaces"); ok {
			v, err := url.PathUnescape(raw)
			if err != nil {
				return r, refuse(400, "Bad Replaces", "Replaces in Refer-To %q: %w", raw, err)
			}
			rep, err := ParseReplaces(v)
			if err != nil {
				return r, err
			}
			r.Replaces = &rep
		}
		r.Target.Headers = nil
	}
	if rb := req.GetHeader("Referred-By"); rb != nil {
		var params sip.HeaderParams
		if _, err := sip.ParseAddressValue(rb.Value(), &r.ReferredBy, &params); err != nil {
			return r, refuse(400, "Bad Referred-By", "Referred-By %q: %w", rb.Value(), err)
		}
	} else if f := req.From(); f != nil {
		r.ReferredBy = f.Address
	}
	return r, nil
}

// headerParam looks key up case-insensitively (URI header names are).
func headerParam(hp sip.HeaderParams, key string) (string, bool) {
	for _, k := range hp.Keys() {
		if strings.EqualFold(k, key) {
			return hp.Get(k)
		}
	}
	return "", false
}

// ReferAccepted is the 202 that accepts a REFER: Hotline will report the
// transfer's progress with NOTIFYs (ReferNotify).
func ReferAccepted(req *sip.Request) *sip.Response {
	return sip.NewResponseFromRequest(req, 202, "Accepted", nil)
}

// ReferNotify builds the NOTIFY of a REFER's implicit subscription (RFC
// 3515 §2.4.4) reporting the transfer's progress as a message/sipfrag
// status line: 100 Trying when it starts, 180 Ringing while the target
// rings, then a final status (200 OK: transferred; anything else:
// failed), which terminates the subscription. referCSeq, when not 0,
// becomes Event's id (required for a REFER after the first in a dialog).
// to is the peer's remote target (its Contact); the dialog adds From,
// To, Call-ID and CSeq when the NOTIFY is sent in it.
func ReferNotify(to sip.Uri, code int, reason string, referCSeq uint32) *sip.Request {
	req := sip.NewRequest(sip.NOTIFY, to)
	event := "refer"
	if referCSeq != 0 {
		event += ";id=" + strconv.FormatUint(uint64(referCSeq), 10)
	}
	req.AppendHeader(sip.NewHeader("Event", event))
	if code >= 200 {
		req.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=noresource"))
	} else {
		req.AppendHeader(sip.NewHeader("Subscription-State", "active;expires=60"))
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte(fmt.Sprintf("SIP/2.0 %d %s\r\n", code, reason)))
	return req
}

// ParseSipfrag returns the status of a message/sipfrag body's status line
// ("SIP/2.0 200 OK").
func ParseSipfrag(body []byte) (code int, reason string, err error) {
	line, _, _ := strings.Cut(string(body), "\n")
	line = strings.TrimRight(line, "\r")
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || proto != "SIP/2.0" {
		return 0, "", fmt.Errorf("sipfrag %q: not a SIP/2.0 status line", line)
	}
	num, reason, _ := strings.Cut(rest, " ")
	code, err = strconv.Atoi(num)
	if err != nil || code < 100 || code > 699 {
		return 0, "", fmt.Errorf("sipfrag %q: bad status code", line)
	}
	return code, reason, nil
}

// Replaces names a dialog as the UA receiving it sees it (RFC 3891):
// ToTag is that UA's own tag, FromTag the other party's.
type Replaces struct {
	CallID    string
	ToTag     string
	FromTag   string
	EarlyOnly bool
}

// ParseReplaces reads a Replaces header value, e.g.
// "425928@bobster.example.org;to-tag=7743;from-tag=6472". Call-ID, to-tag
// and from-tag are required (400 otherwise).
func ParseReplaces(v string) (Replaces, error) {
	var r Replaces
	parts := strings.Split(strings.TrimSpace(v), ";")
	r.CallID = strings.TrimSpace(parts[0])
	if r.CallID == "" || strings.ContainsAny(r.CallID, " \t<>\"") {
		return r, refuse(400, "Bad Replaces", "Replaces %q: no Call-ID", v)
	}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "to-tag":
			r.ToTag = strings.TrimSpace(val)
		case "from-tag":
			r.FromTag = strings.TrimSpace(val)
		case "early-only":
			r.EarlyOnly = true
		}
	}
	if r.ToTag == "" || r.FromTag == "" {
		return r, refuse(400, "Bad Replaces", "Replaces %q: to-tag and from-tag are required", v)
	}
	return r, nil
}

// String is the header value.
func (r Replaces) String() string {
	s := r.CallID + ";to-tag=" + r.ToTag + ";from-tag=" + r.FromTag
	if r.EarlyOnly {
		s += ";early-only"
	}
	return s
}

// DialogID identifies a dialog from Hotline's side of it.
type DialogID struct {
	CallID    string
	LocalTag  string // Hotline's tag
	RemoteTag string // the peer's
}

// ServerDialogID is the id of a dialog a peer's INVITE opened (Hotline
// answered): Hotline's tag is the To tag of the INVITE as sipgo keeps it.
func ServerDialogID(dlg *sipgo.DialogServerSession) DialogID {
	if dlg == nil || dlg.InviteRequest == nil {
		return DialogID{}
	}
	req := dlg.InviteRequest
	id := DialogID{LocalTag: toTag(req.To()), RemoteTag: fromTag(req.From())}
	if cid := req.CallID(); cid != nil {
		id.CallID = cid.Value()
	}
	return id
}

// ClientDialogID is the id of a dialog Hotline's INVITE opened: Hotline's
// tag is its From tag, the peer's the To tag of the answer.
func ClientDialogID(dlg *sipgo.DialogClientSession) DialogID {
	if dlg == nil || dlg.InviteRequest == nil {
		return DialogID{}
	}
	id := DialogID{LocalTag: fromTag(dlg.InviteRequest.From())}
	if cid := dlg.InviteRequest.CallID(); cid != nil {
		id.CallID = cid.Value()
	}
	if dlg.InviteResponse != nil {
		id.RemoteTag = toTag(dlg.InviteResponse.To())
	}
	return id
}

// Matches reports whether r names dialog d: the same Call-ID, r's to-tag
// Hotline's tag and its from-tag the peer's (tags compare exactly, as
// RFC 3261 §19.3 says; Call-IDs too).
func (r Replaces) Matches(d DialogID) bool {
	return d.CallID != "" && r.CallID == d.CallID && r.ToTag == d.LocalTag && r.FromTag == d.RemoteTag
}

// ErrNoDialog is the refusal of a Replaces naming no dialog in progress
// (RFC 3891 §3: 481).
var ErrNoDialog = &Refusal{Code: 481, Reason: "Call/Transaction Does Not Exist", Err: errors.New("replaces names no dialog in progress")}

// FindReplaced returns the first of dialogs that r names, or ErrNoDialog.
func FindReplaced[T any](r Replaces, dialogs []T, id func(T) DialogID) (T, error) {
	for _, d := range dialogs {
		if r.Matches(id(d)) {
			return d, nil
		}
	}
	var zero T
	return zero, ErrNoDialog
}

// Requester sends a request in a dialog and returns its final response:
// sipgo's DialogServerSession and DialogClientSession are Requesters.
type Requester interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
}

// ReferProgress reports one accepted REFER's progress to the referrer,
// in the dialog the REFER came in: NOTIFYs whose sipfrag says 100 Trying,
// 180 Ringing, then a final status that ends the subscription. After the
// final status (or once the referrer's phone answered a NOTIFY with 481,
// its dialog gone) it sends nothing more.
type ReferProgress struct {
	dlg  Requester
	to   sip.Uri
	cseq uint32
	done bool
}

// NewReferProgress prepares the NOTIFYs for refer, received in dialog dlg:
// they go to the REFER's Contact (else its From), with the REFER's CSeq
// as the event id when withID (a dialog's second REFER onwards).
func NewReferProgress(dlg Requester, refer *sip.Request, withID bool) *ReferProgress {
	p := &ReferProgress{dlg: dlg}
	switch {
	case refer.Contact() != nil:
		p.to = refer.Contact().Address
	case refer.From() != nil:
		p.to = refer.From().Address
	}
	if withID && refer.CSeq() != nil {
		p.cseq = refer.CSeq().SeqNo
	}
	return p
}

// Notify sends one NOTIFY reporting code and reason. A final status
// (>= 200) is the last one. The NOTIFY is the transferor's information
// only: an error is returned for the log, the transfer goes on.
func (p *ReferProgress) Notify(ctx context.Context, code int, reason string) error {
	if p.done {
		return nil
	}
	if code >= 200 {
		p.done = true
	}
	res, err := p.dlg.Do(ctx, ReferNotify(p.to, code, reason, p.cseq))
	if err != nil {
		return fmt.Errorf("NOTIFY %d to the referrer: %w", code, err)
	}
	if res.StatusCode == 481 {
		p.done = true // the referrer's dialog is gone: nobody to tell
	}
	if res.StatusCode >= 300 {
		return fmt.Errorf("NOTIFY %d to the referrer: answered %d %s", code, res.StatusCode, res.Reason)
	}
	return nil
}

// Done reports whether the final status was sent (or nobody listens).
func (p *ReferProgress) Done() bool { return p.done }
