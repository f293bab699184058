package records

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Records come from the network (a caller's number, a SIP header): what
// PostgreSQL would refuse (invalid UTF-8, NUL, JSON that is not) is made
// storable before the record is buffered, so that one bad value can never
// block a batch, or the spool, for good.

func clean(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// cleanJSON keeps valid JSON without NUL escapes (jsonb refuses \u0000);
// anything else is stored as a JSON string of its text.
func cleanJSON(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) && !strings.Contains(string(b), `\u0000`) {
		return b
	}
	q, _ := json.Marshal(clean(strings.ReplaceAll(string(b), `\u0000`, "")))
	return q
}

// score keeps a survey score within [lo, hi], nil otherwise.
func score(p *int, lo, hi int) *int {
	if p == nil || *p < lo || *p > hi {
		return nil
	}
	v := *p
	return &v
}

func (c *Call) clean() {
	for _, p := range []*string{&c.CallID, &c.Direction, &c.Hotline, &c.Queue, &c.Customer, &c.CustomerID, &c.Segment,
		&c.Style, &c.Reason, &c.Agent, &c.Outcome, &c.Cause, &c.Recording, &c.Callback} {
		*p = clean(*p)
	}
	c.CSAT, c.NPS = score(c.CSAT, 1, 5), score(c.NPS, 0, 10)
	c.Legs, c.Transfers, c.Monitors = cleanJSON(c.Legs), cleanJSON(c.Transfers), cleanJSON(c.Monitors)
}

func (e *Event) clean() {
	for _, p := range []*string{&e.ID, &e.Kind, &e.CallID, &e.Agent, &e.Queue, &e.Customer, &e.Reason} {
		*p = clean(*p)
	}
	e.Detail = cleanJSON(e.Detail)
}
