package sip

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// FuzzParseReplaces: any header value either is refused with a 400 or
// reads back the same through String.
func FuzzParseReplaces(f *testing.F) {
	for _, s := range []string{"a@b;to-tag=1;from-tag=2", "x;from-tag=b;to-tag=a;early-only", "", ";;", "c;to-tag=;from-tag=x", "c ;to-tag=a=b;from-tag=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r, err := ParseReplaces(v)
		if err != nil {
			if code, _ := StatusOf(err); code != 400 {
				t.Fatalf("ParseReplaces(%q) refused with %d", v, code)
			}
			return
		}
		again, err := ParseReplaces(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseReplaces(%q) = %+v; its String %q reads %+v, %v", v, r, r.String(), again, err)
		}
	})
}

// FuzzParseRefer: a REFER with any Refer-To value is parsed or refused
// with a 4xx, never a panic; an accepted target carries no URI headers.
func FuzzParseRefer(f *testing.F) {
	for _, s := range []string{"<sip:bob@h>", "<sip:2001@h?Replaces=c%40h%3Bto-tag%3Da%3Bfrom-tag%3Db>", "tel:+84", "<http://x>", "<sip:a@b?x=%zz>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, referTo string) {
		if strings.ContainsAny(referTo, "\r\n") {
			return // not one header line
		}
		raw := "REFER sip:h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\n" +
			"Call-ID: c\r\nCSeq: 1 REFER\r\nRefer-To: " + referTo + "\r\nContent-Length: 0\r\n\r\n"
		msg, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			return // sipgo refuses it before Hotline sees it
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		r, err := ParseRefer(req)
		if err != nil {
			if code, _ := StatusOf(err); code < 400 || code > 499 {
				t.Fatalf("Refer-To %q refused with %d", referTo, code)
			}
			return
		}
		if r.Target.Headers != nil && r.Target.Headers.Length() > 0 {
			t.Fatalf("Refer-To %q: target keeps URI headers %v", referTo, r.Target.Headers)
		}
	})
}

// FuzzOfferDisplayName: whatever the customer's name (it comes from a
// directory or a CRM), the display name stays one SIP quoted-string: no
// control characters, every quote and backslash escaped, at most the
// configured length.
func FuzzOfferDisplayName(f *testing.F) {
	for _, s := range []string{"Nguyễn Văn An", `a "b" \c`, "x\r\nVia: evil", "\xff\xfe", strings.Repeat("ễ", 70)} {
		f.Add(s, "loyal")
	}
	o, err := NewOffers(AgentOffer{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name, segment string) {
		d := o.DisplayName(OfferInfo{Name: name, Segment: segment, Number: "+1"})
		for i := 0; i < len(d); i++ {
			switch c := d[i]; {
			case c < 0x20 || c == 0x7f:
				t.Fatalf("display name %q has control byte %#x", d, c)
			case c == '\\':
				if i+1 >= len(d) || (d[i+1] != '\\' && d[i+1] != '"') {
					t.Fatalf("display name %q: lone backslash at %d", d, i)
				}
				i++
			case c == '"':
				t.Fatalf("display name %q: unescaped quote at %d", d, i)
			}
		}
		if n := len([]rune(strings.NewReplacer(`\\`, `\`, `\"`, `"`).Replace(d))); n > 64 {
			t.Fatalf("display name of %d characters", n)
		}
		for _, h := range o.Headers(OfferInfo{CallID: name, Segment: segment, Reason: name}) {
			if strings.ContainsAny(h.Value(), "\r\n") {
				t.Fatalf("header %s: %q", h.Name(), h.Value())
			}
		}
	})
}
