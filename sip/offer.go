package sip

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"

	"hotline/internal/cfg"
)

// AgentOffer is what an agent's phone shows of an offered call (first
// offer, transfer, callback): a display name made from a template, and
// headers for CTI tools. It is the sip section's agent_offer.
type AgentOffer struct {
	// DisplayName is a Go text/template for the display name of the
	// INVITE's From, over OfferInfo's fields (.Name, .Number, .Segment,
	// .Reason, .Queue, .Hotline, .Wait, .TransferredBy) and join (which
	// leaves out empty values), e.g.
	// `{{join " · " .Name .Segment .Reason}}`. Default: that one.
	DisplayName string `yaml:"display_name"`
	// InfoURL is a template for the Call-Info link (purpose=info) to the
	// customer's record in the API, e.g.
	// `http://127.0.0.1:8080/api/v1/customers/{{.Number}}/calls`
	// (values are URL-escaped). Empty: no Call-Info.
	InfoURL string `yaml:"info_url"`
	// MaxDisplayName cuts the display name to this many characters
	// (default 64): phones show a line, not a page.
	MaxDisplayName int `yaml:"max_display_name"`
}

// DefaultDisplayName is the display-name template when none is configured.
const DefaultDisplayName = `{{join " · " .Name .Segment .Reason}}`

func (o *AgentOffer) setDefaults() {
	if o.DisplayName == "" {
		o.DisplayName = DefaultDisplayName
	}
	if o.MaxDisplayName == 0 {
		o.MaxDisplayName = 64
	}
}

// OfferInfo is what an agent is told about an offered call.
type OfferInfo struct {
	// CallID is Hotline's call id (the API's).
	CallID string
	// Name is the customer's name from the directory; when the directory
	// does not know them, the caller's own display name, else Number.
	Name string
	// Number is the caller's number.
	Number string
	// Segment, Reason and Queue are the call's routing attributes;
	// Hotline is the number the caller dialled.
	Segment, Reason, Queue, Hotline string
	// Wait is how long the caller has waited so far.
	Wait time.Duration
	// TransferredBy names the agent who transferred the call (empty for a
	// first offer).
	TransferredBy string
}

// templateData is OfferInfo as the templates see it.
type templateData struct {
	CallID, Name, Number, Segment, Reason, Queue, Hotline, TransferredBy string
	// Wait is the wait so far, rounded to the second ("1m5s").
	Wait string
	// WaitSeconds is the same in whole seconds.
	WaitSeconds int
}

func (i OfferInfo) data() templateData {
	name := i.Name
	if name == "" {
		name = i.Number
	}
	w := i.Wait.Round(time.Second)
	return templateData{CallID: i.CallID, Name: name, Number: i.Number, Segment: i.Segment, Reason: i.Reason,
		Queue: i.Queue, Hotline: i.Hotline, TransferredBy: i.TransferredBy, Wait: w.String(), WaitSeconds: int(w / time.Second)}
}

var offerFuncs = template.FuncMap{
	// join joins the non-empty values with sep.
	"join": func(sep string, vals ...string) string {
		var out []string
		for _, v := range vals {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return strings.Join(out, sep)
	},
}

// Offers renders AgentOffer for each call.
type Offers struct {
	display, info *template.Template
	max           int
}

// sampleOffer exercises every field when a template is checked at load.
var sampleOffer = OfferInfo{CallID: "c", Name: "n", Number: "+1", Segment: "s", Reason: "r", Queue: "q", Hotline: "h",
	Wait: time.Second, TransferredBy: "t"}

// NewOffers compiles the templates. Errors name the field (display_name,
// info_url, max_display_name) and the problem, e.g. a field the template
// uses that OfferInfo does not have.
func NewOffers(o AgentOffer) (*Offers, error) {
	o.setDefaults()
	var errs []error
	compile := func(field, text string) *template.Template {
		t, err := template.New(field).Funcs(offerFuncs).Option("missingkey=error").Parse(text)
		if err == nil {
			err = t.Execute(discard{}, sampleOffer.data())
		}
		if err != nil {
			errs = append(errs, cfg.Errorf(field, "%s", templateProblem(err)))
			return nil
		}
		return t
	}
	offers := &Offers{max: o.MaxDisplayName}
	offers.display = compile("display_name", o.DisplayName)
	if o.InfoURL != "" {
		if offers.info = compile("info_url", o.InfoURL); offers.info != nil {
			if u, err := url.Parse(offers.render(offers.info, sampleOffer, true)); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				errs = append(errs, cfg.Errorf("info_url", "%q does not make an http(s) URL", o.InfoURL))
			}
		}
	}
	if o.MaxDisplayName < 8 || o.MaxDisplayName > 200 {
		errs = append(errs, cfg.Errorf("max_display_name", "must be 8 to 200, got %d", o.MaxDisplayName))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return offers, nil
}

// Validate checks the agent_offer section (templates compile and run).
func (o *AgentOffer) Validate() error {
	_, err := NewOffers(*o)
	return err
}

// templateProblem shortens text/template's messages to what a person
// editing the file needs ("template: display_name:1:9: executing ..."
// names the line and column already).
func templateProblem(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	msg = strings.Replace(msg, "can't evaluate field", "unknown field", 1)
	msg = strings.Replace(msg, " in type sip.templateData", " (fields: Name, Number, Segment, Reason, Queue, Hotline, Wait, WaitSeconds, TransferredBy, CallID)", 1)
	return msg
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// render executes t; values are URL-escaped for a URL.
func (o *Offers) render(t *template.Template, info OfferInfo, forURL bool) string {
	d := info.data()
	if forURL {
		for _, f := range []*string{&d.CallID, &d.Name, &d.Number, &d.Segment, &d.Reason, &d.Queue, &d.Hotline, &d.TransferredBy, &d.Wait} {
			*f = url.PathEscape(*f)
		}
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "" // checked at load with every field: cannot happen
	}
	return b.String()
}

// DisplayName is the From display name for an INVITE offering the call
// to an agent: the template's text made safe for a SIP quoted-string
// (control characters become spaces, " and \ are escaped), white space
// collapsed, cut to the configured length on a character boundary.
func (o *Offers) DisplayName(info OfferInfo) string {
	return quotedString(o.render(o.display, info, false), o.max)
}

// Headers are the CTI headers of the INVITE offering the call to an
// agent: X-Hotline-Call-ID, -Segment, -Reason, -Queue, -Wait (seconds)
// and -Transferred-By, each only when known, and Call-Info with the
// link to the customer's record when info_url is set.
func (o *Offers) Headers(info OfferInfo) []sip.Header {
	var hs []sip.Header
	add := func(name, v string) {
		if v = headerSafe(v); v != "" {
			hs = append(hs, sip.NewHeader(name, v))
		}
	}
	add("X-Hotline-Call-ID", info.CallID)
	add("X-Hotline-Segment", info.Segment)
	add("X-Hotline-Reason", info.Reason)
	add("X-Hotline-Queue", info.Queue)
	add("X-Hotline-Wait", strconv.Itoa(int(info.Wait.Round(time.Second)/time.Second)))
	add("X-Hotline-Transferred-By", info.TransferredBy)
	if o.info != nil && info.Number != "" {
		if u := headerSafe(o.render(o.info, info, true)); u != "" && !strings.ContainsAny(u, "<>") {
			hs = append(hs, sip.NewHeader("Call-Info", "<"+u+">;purpose=info"))
		}
	}
	return hs
}

// quotedString makes s safe inside a SIP quoted-string display name.
func quotedString(s string, maxRunes int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if utf8.RuneCountInString(s) > maxRunes {
		s = string([]rune(s)[:maxRunes-1]) + "…"
	}
	return quoteEscaper.Replace(s)
}

// quoteEscaper escapes the backslashes and double quotes of a
// quoted-string. It is built once, not per call (building a Replacer
// costs more than a short replacement), and only read: a Replacer is
// safe for concurrent use.
var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// headerSafe keeps a header value on one line of printable characters.
func headerSafe(s string) string {
	s = strings.ToValidUTF8(s, "?")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}
