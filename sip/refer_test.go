package sip

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// referReq parses a REFER from an agent's phone with the given extra
// header lines.
func referReq(t *testing.T, headers ...string) *sip.Request {
	t.Helper()
	raw := "REFER sip:hotline@127.0.0.1:5060 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-refer-1\r\n" +
		"From: \"Alice\" <sip:alice@127.0.0.1>;tag=agent-tag\r\n" +
		"To: <sip:1900@127.0.0.1>;tag=hotline-tag\r\n" +
		"Call-ID: agent-leg-1\r\n" +
		"CSeq: 7 REFER\r\n" +
		"Contact: <sip:alice@127.0.0.1:5070>\r\n"
	for _, h := range headers {
		raw += h + "\r\n"
	}
	raw += "Content-Length: 0\r\n\r\n"
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("test REFER does not parse: %v", err)
	}
	return msg.(*sip.Request)
}

func refusalCode(err error) int {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Code
	}
	return 0
}

func TestParseReferBlind(t *testing.T) {
	for _, tc := range []struct {
		hdr          string
		scheme, user string
	}{
		{"Refer-To: <sip:bob@127.0.0.1>", "sip", "bob"},
		{"Refer-To: sip:2001@127.0.0.1:5060;user=phone", "sip", "2001"},
		{"r: <sips:+84901234567@hotline.example>", "sips", "+84901234567"},
		{"Refer-To: \"Complaints\" <sip:2001@127.0.0.1>", "sip", "2001"},
		{"Refer-To: <tel:+84901234567;phone-context=example>", "tel", "+84901234567"},
		{"Refer-To: tel:+84901234567", "tel", "+84901234567"},
	} {
		r, err := ParseRefer(referReq(t, tc.hdr))
		if err != nil {
			t.Errorf("%s: %v", tc.hdr, err)
			continue
		}
		if r.Target.Scheme != tc.scheme || r.Target.User != tc.user || r.Replaces != nil {
			t.Errorf("%s: target %s:%s replaces %v, want %s:%s and none", tc.hdr, r.Target.Scheme, r.Target.User, r.Replaces, tc.scheme, tc.user)
		}
		if r.ReferredBy.User != "alice" {
			t.Errorf("%s: referred by %q, want alice (From)", tc.hdr, r.ReferredBy.User)
		}
	}
}

func TestParseReferAttended(t *testing.T) {
	// As baresip and SIPp's attended-transfer scenarios write it: the
	// Replaces value %-escaped in the URI's headers.
	r, err := ParseRefer(referReq(t,
		"Refer-To: <sip:2001@127.0.0.1?Replaces=consult-7%40127.0.0.1%3Bto-tag%3Dhl-9%3Bfrom-tag%3Dal-3&Require=replaces>",
		"Referred-By: <sip:alice@hotline>"))
	if err != nil {
		t.Fatal(err)
	}
	want := Replaces{CallID: "consult-7@127.0.0.1", ToTag: "hl-9", FromTag: "al-3"}
	if r.Replaces == nil || *r.Replaces != want {
		t.Fatalf("Replaces = %+v, want %+v", r.Replaces, want)
	}
	if r.Target.User != "2001" || r.Target.Headers != nil && r.Target.Headers.Length() > 0 {
		t.Errorf("target %s: want 2001 without URI headers", r.Target.String())
	}
	if r.ReferredBy.User != "alice" {
		t.Errorf("referred by %q, want alice (Referred-By)", r.ReferredBy.User)
	}
	// Lower-case header name and early-only.
	r, err = ParseRefer(referReq(t, "Refer-To: <sip:bob@h?replaces=c1%3Bfrom-tag%3Db%3Bto-tag%3Da%3Bearly-only>"))
	if err != nil || r.Replaces == nil || *r.Replaces != (Replaces{CallID: "c1", ToTag: "a", FromTag: "b", EarlyOnly: true}) {
		t.Errorf("lower-case replaces: %+v, %v", r.Replaces, err)
	}
}

func TestParseReferRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string
		code    int
	}{
		{"no Refer-To", nil, 400},
		{"two Refer-To", []string{"Refer-To: <sip:bob@h>", "Refer-To: <sip:carol@h>"}, 400},
		{"http target", []string{"Refer-To: <http://evil.example/x>"}, 416},
		{"mailto target", []string{"Refer-To: <mailto:a@b>"}, 416},
		{"empty tel", []string{"Refer-To: <tel:>"}, 400},
		{"Replaces without tags", []string{"Refer-To: <sip:bob@h?Replaces=abc>"}, 400},
		{"Replaces without Call-ID", []string{"Refer-To: <sip:bob@h?Replaces=%3Bto-tag%3Da%3Bfrom-tag%3Db>"}, 400},
		{"bad escape", []string{"Refer-To: <sip:bob@h?Replaces=a%zz>"}, 400},
	} {
		_, err := ParseRefer(referReq(t, tc.headers...))
		if got := refusalCode(err); got != tc.code {
			t.Errorf("%s: refused %d (%v), want %d", tc.name, got, err, tc.code)
		}
		if code, reason := StatusOf(err); code != tc.code || reason == "" {
			t.Errorf("%s: StatusOf = %d %q", tc.name, code, reason)
		}
	}
	inv := referReq(t, "Refer-To: <sip:bob@h>")
	inv.Method = sip.INVITE
	if _, err := ParseRefer(inv); refusalCode(err) != 405 {
		t.Errorf("an INVITE taken for a REFER: %v", err)
	}
	if code, _ := StatusOf(errors.New("boom")); code != 500 {
		t.Errorf("StatusOf(plain error) = %d, want 500", code)
	}
}

func TestReferNotify(t *testing.T) {
	to := sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: 5070}
	for _, tc := range []struct {
		code   int
		reason string
		cseq   uint32
		state  string
		event  string
	}{
		{100, "Trying", 0, "active;expires=60", "refer"},
		{180, "Ringing", 0, "active;expires=60", "refer"},
		{200, "OK", 7, "terminated;reason=noresource", "refer;id=7"},
		{486, "Busy Here", 0, "terminated;reason=noresource", "refer"},
	} {
		req := ReferNotify(to, tc.code, tc.reason, tc.cseq)
		// On the wire and back, as the phone reads it.
		msg, err := sip.ParseMessage([]byte(withDialogHeaders(req)))
		if err != nil {
			t.Fatalf("NOTIFY does not parse: %v\n%s", err, req.String())
		}
		got := msg.(*sip.Request)
		if got.Method != sip.NOTIFY || got.Recipient.User != "alice" {
			t.Errorf("%d: %s %s", tc.code, got.Method, got.Recipient.String())
		}
		for h, want := range map[string]string{"Event": tc.event, "Subscription-State": tc.state, "Content-Type": "message/sipfrag;version=2.0"} {
			if v := got.GetHeader(h); v == nil || v.Value() != want {
				t.Errorf("%d: %s = %v, want %q", tc.code, h, v, want)
			}
		}
		code, reason, err := ParseSipfrag(got.Body())
		if err != nil || code != tc.code || reason != tc.reason {
			t.Errorf("%d: sipfrag %q -> %d %q %v", tc.code, got.Body(), code, reason, err)
		}
	}
	for _, bad := range []string{"", "HTTP/1.1 200 OK", "SIP/2.0 abc", "SIP/2.0 99 Low", "SIP/2.0 700 High"} {
		if _, _, err := ParseSipfrag([]byte(bad)); err == nil {
			t.Errorf("ParseSipfrag(%q) accepted", bad)
		}
	}
}

// withDialogHeaders renders req with the headers a dialog adds.
func withDialogHeaders(req *sip.Request) string {
	r := req.Clone()
	r.PrependHeader(
		sip.NewHeader("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n1"),
		sip.NewHeader("From", "<sip:1900@127.0.0.1>;tag=hl"),
		sip.NewHeader("To", "<sip:alice@127.0.0.1>;tag=al"),
		sip.NewHeader("Call-ID", "agent-leg-1"),
		sip.NewHeader("CSeq", "3 NOTIFY"),
	)
	return r.String()
}

func TestReferAccepted(t *testing.T) {
	res := ReferAccepted(referReq(t, "Refer-To: <sip:bob@h>"))
	if res.StatusCode != 202 || res.CallID().Value() != "agent-leg-1" || res.CSeq().MethodName != sip.REFER {
		t.Errorf("got %d for %s %v", res.StatusCode, res.CallID().Value(), res.CSeq())
	}
}

func TestReplacesMatching(t *testing.T) {
	r, err := ParseReplaces(" consult-7@h ; to-tag=hl-9 ; from-tag=al-3 ")
	if err != nil {
		t.Fatal(err)
	}
	if s := r.String(); s != "consult-7@h;to-tag=hl-9;from-tag=al-3" {
		t.Errorf("String() = %q", s)
	}
	type dlg struct {
		name string
		id   DialogID
	}
	dialogs := []dlg{
		{"other call", DialogID{CallID: "caller-1", LocalTag: "hl-9", RemoteTag: "al-3"}},
		{"swapped tags", DialogID{CallID: "consult-7@h", LocalTag: "al-3", RemoteTag: "hl-9"}},
		{"consultation", DialogID{CallID: "consult-7@h", LocalTag: "hl-9", RemoteTag: "al-3"}},
	}
	got, err := FindReplaced(r, dialogs, func(d dlg) DialogID { return d.id })
	if err != nil || got.name != "consultation" {
		t.Errorf("FindReplaced = %q, %v; want the consultation", got.name, err)
	}
	_, err = FindReplaced(Replaces{CallID: "gone", ToTag: "a", FromTag: "b"}, dialogs, func(d dlg) DialogID { return d.id })
	if !errors.Is(err, ErrNoDialog) || refusalCode(err) != 481 {
		t.Errorf("a Replaces naming no dialog: %v, want 481", err)
	}
	if (Replaces{}).Matches(DialogID{}) {
		t.Error("an empty Replaces matched an empty dialog id")
	}
	if !strings.Contains(ErrNoDialog.Error(), "481") {
		t.Errorf("ErrNoDialog reads %q", ErrNoDialog.Error())
	}
}

// dialogRecorder is a Requester that keeps the requests and answers each
// with the next status of codes (200 once they run out).
type dialogRecorder struct {
	reqs  []*sip.Request
	codes []int
}

func (d *dialogRecorder) Do(_ context.Context, req *sip.Request) (*sip.Response, error) {
	d.reqs = append(d.reqs, req)
	code := 200
	if len(d.codes) > 0 {
		code, d.codes = d.codes[0], d.codes[1:]
	}
	return sip.NewResponseFromRequest(req, code, "x", nil), nil
}

func TestReferProgress(t *testing.T) {
	ctx := context.Background()
	refer := referReq(t, "Refer-To: <sip:bob@h>")
	d := &dialogRecorder{}
	p := NewReferProgress(d, refer, true)
	for _, s := range []struct {
		code   int
		reason string
	}{{100, "Trying"}, {180, "Ringing"}, {200, "OK"}, {200, "OK again"}} {
		if err := p.Notify(ctx, s.code, s.reason); err != nil {
			t.Fatal(err)
		}
	}
	if len(d.reqs) != 3 || !p.Done() {
		t.Fatalf("%d NOTIFYs (done %v), want 3: nothing after the final status", len(d.reqs), p.Done())
	}
	for i, want := range []string{"SIP/2.0 100 Trying\r\n", "SIP/2.0 180 Ringing\r\n", "SIP/2.0 200 OK\r\n"} {
		r := d.reqs[i]
		if string(r.Body()) != want || r.Recipient.Port != 5070 || r.GetHeader("Event").Value() != "refer;id=7" {
			t.Errorf("NOTIFY %d: body %q to %s event %s", i, r.Body(), r.Recipient.String(), r.GetHeader("Event").Value())
		}
	}
	if st := d.reqs[2].GetHeader("Subscription-State").Value(); !strings.HasPrefix(st, "terminated") {
		t.Errorf("final NOTIFY: Subscription-State %q", st)
	}

	// The referrer's dialog is gone (481): no more NOTIFYs; a refusal is
	// reported for the log.
	d = &dialogRecorder{codes: []int{481}}
	p = NewReferProgress(d, refer, false)
	if err := p.Notify(ctx, 100, "Trying"); err == nil {
		t.Error("a NOTIFY answered 481 gave no error")
	}
	_ = p.Notify(ctx, 200, "OK")
	if len(d.reqs) != 1 || !p.Done() {
		t.Errorf("%d NOTIFYs after a 481, want 1", len(d.reqs))
	}
	if ev := d.reqs[0].GetHeader("Event").Value(); ev != "refer" {
		t.Errorf("first REFER's NOTIFY: Event %q, want refer", ev)
	}
}
