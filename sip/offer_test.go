package sip

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/internal/cfg"
	"hotline/routing/directory"
)

func mustOffers(t *testing.T, o AgentOffer) *Offers {
	t.Helper()
	offers, err := NewOffers(o)
	if err != nil {
		t.Fatal(err)
	}
	return offers
}

func TestOfferDisplayName(t *testing.T) {
	def := mustOffers(t, AgentOffer{})
	custom := mustOffers(t, AgentOffer{DisplayName: `{{.Name}} · {{.Segment}} · {{.Reason}}{{if .TransferredBy}} ← {{.TransferredBy}}{{end}}`})
	for _, tc := range []struct {
		name   string
		offers *Offers
		info   OfferInfo
		want   string
	}{
		{"default, all known", def, OfferInfo{Name: "Nguyễn Văn An", Number: "+84901", Segment: "loyal", Reason: "billing"}, "Nguyễn Văn An · loyal · billing"},
		{"default leaves out what is unknown", def, OfferInfo{Number: "+84901", Segment: "unknown"}, "+84901 · unknown"},
		{"custom, first offer", custom, OfferInfo{Name: "An", Segment: "at_risk", Reason: "complaint"}, "An · at_risk · complaint"},
		{"custom, transferred", custom, OfferInfo{Name: "An", Segment: "at_risk", Reason: "transfer", TransferredBy: "Alice"}, "An · at_risk · transfer ← Alice"},
		{"quotes and backslashes escaped", def, OfferInfo{Name: `Bob "the \ builder"`}, `Bob \"the \\ builder\"`},
		{"no header injection", def, OfferInfo{Name: "Eve\r\nX-Evil: 1\x00"}, "Eve X-Evil: 1"},
		{"cut on a character boundary", def, OfferInfo{Name: strings.Repeat("ễ", 100)}, strings.Repeat("ễ", 63) + "…"},
		{"invalid UTF-8", def, OfferInfo{Name: "A\xffB"}, "A?B"},
	} {
		if got := tc.offers.DisplayName(tc.info); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// What a phone reads back from the INVITE's From.
	name := def.DisplayName(OfferInfo{Name: `Bob "B" <x>`, Segment: "loyal"})
	from := &sip.FromHeader{DisplayName: name, Address: sip.Uri{Scheme: "sip", User: "1900", Host: "h"}, Params: sip.NewParams()}
	msg, err := sip.ParseMessage([]byte("INVITE sip:alice@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: " + from.Value() +
		";tag=1\r\nTo: <sip:alice@h>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatalf("From %q does not parse: %v", from.Value(), err)
	}
	if got := msg.(*sip.Request).From(); got.DisplayName != `Bob \"B\" <x> · loyal` && got.DisplayName != `Bob "B" <x> · loyal` || got.Address.User != "1900" {
		t.Errorf("phone reads display name %q user %q", got.DisplayName, got.Address.User)
	}
}

func TestOfferHeaders(t *testing.T) {
	o := mustOffers(t, AgentOffer{InfoURL: "http://127.0.0.1:8080/api/v1/customers/{{.Number}}/calls"})
	hs := o.Headers(OfferInfo{CallID: "c-1", Number: "+84 901/2", Segment: "loyal", Reason: "billing\r\nX: y", Queue: "vip",
		Wait: 42400 * time.Millisecond, TransferredBy: "alice"})
	got := map[string]string{}
	for _, h := range hs {
		got[h.Name()] = h.Value()
	}
	want := map[string]string{
		"X-Hotline-Call-ID": "c-1", "X-Hotline-Segment": "loyal", "X-Hotline-Reason": "billing  X: y", "X-Hotline-Queue": "vip",
		"X-Hotline-Wait": "42", "X-Hotline-Transferred-By": "alice",
		"Call-Info": "<http://127.0.0.1:8080/api/v1/customers/+84%20901%2F2/calls>;purpose=info",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("headers %v, want exactly %v", got, want)
	}
	// Unknown values are left out; no info_url, no Call-Info.
	hs = mustOffers(t, AgentOffer{}).Headers(OfferInfo{CallID: "c-2", Number: "+1"})
	names := []string{}
	for _, h := range hs {
		names = append(names, h.Name())
	}
	if strings.Join(names, ",") != "X-Hotline-Call-ID,X-Hotline-Wait" {
		t.Errorf("first offer of an unknown caller carries %v", names)
	}
}

func TestAgentOfferValidation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     AgentOffer
		field string
		want  string
	}{
		{"unknown field", AgentOffer{DisplayName: "{{.Nmae}}"}, "display_name", "unknown field Nmae"},
		{"syntax", AgentOffer{DisplayName: "{{.Name"}, "display_name", "display_name:1"},
		{"unknown function", AgentOffer{DisplayName: `{{upper .Name}}`}, "display_name", `"upper" not defined`},
		{"info url not http", AgentOffer{InfoURL: "ftp://x/{{.Number}}"}, "info_url", "http(s)"},
		{"info url field", AgentOffer{InfoURL: "http://x/{{.Phone}}"}, "info_url", "unknown field Phone"},
		{"length", AgentOffer{MaxDisplayName: 3}, "max_display_name", "8 to 200"},
	} {
		c := Config{AgentOffer: tc.o}
		c.SetDefaults()
		err := c.Validate()
		var found bool
		for _, fe := range cfg.Fields(err) {
			if fe.Field == "agent_offer."+tc.field {
				found = true
				if !strings.Contains(fe.Msg, tc.want) {
					t.Errorf("%s: %q does not say %q", tc.name, fe.Msg, tc.want)
				}
			}
		}
		if !found {
			t.Errorf("%s: no error for agent_offer.%s in %v", tc.name, tc.field, err)
		}
	}
	ok := Config{AgentOffer: AgentOffer{DisplayName: `{{.Name}} · {{.Segment}} · {{.Reason}}`,
		InfoURL: "https://hotline.example/api/v1/customers/{{.Number}}/calls"}}
	ok.SetDefaults()
	if err := ok.Validate(); err != nil {
		t.Errorf("the README's example is refused: %v", err)
	}
}

// TestAgentSeesWhoIsCalling: the INVITE ringing an agent shows the
// caller through the display-name template and carries the CTI headers.
func TestAgentSeesWhoIsCalling(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) {
		o.cfg.AgentOffer = AgentOffer{DisplayName: `{{.Name}} · {{.Segment}} · {{.Queue}}`,
			InfoURL: "http://127.0.0.1:8080/api/v1/customers/{{.Number}}/calls"}
		o.deps = func(d *Deps) {
			d.Routes.Customers = func(_ context.Context, number string) directory.Customer {
				return directory.Customer{Name: "Nguyễn Văn An", Number: number, Segment: "loyal"}
			}
		}
	})
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	caller := newPhone(t, "5551234", f.addr)
	call, in := connectCall(t, caller, agent)
	from := in.req.From()
	if from.DisplayName != "Nguyễn Văn An · loyal · default" || from.Address.User != "5551234" {
		t.Errorf("the agent's phone shows %q <%s>, want the customer's name, segment and queue", from.DisplayName, from.Address.User)
	}
	for h, want := range map[string]string{
		"X-Hotline-Call-ID": call.id, "X-Hotline-Segment": "loyal", "X-Hotline-Queue": "default",
		"Call-Info": "<http://127.0.0.1:8080/api/v1/customers/5551234/calls>;purpose=info",
	} {
		if v := in.req.GetHeader(h); v == nil || v.Value() != want {
			t.Errorf("%s = %v, want %q", h, v, want)
		}
	}
	if in.req.GetHeader("X-Hotline-Wait") == nil || in.req.GetHeader("X-Hotline-Transferred-By") != nil {
		t.Error("a first offer carries X-Hotline-Wait and no X-Hotline-Transferred-By")
	}
	call.bye()
	if err := in.wait(); err != nil {
		t.Fatal(err)
	}
}
