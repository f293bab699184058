package records

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Query limits.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
	// MaxValueLen bounds a filter value, in bytes.
	MaxValueLen = 256
)

// Cursor is the position after the last row of a page: rows are ordered
// newest first by (time, id).
type Cursor struct {
	At time.Time
	ID string
}

type cursorJSON struct {
	T  int64  `json:"t"`
	ID string `json:"id"`
}

// Encode is the cursor as an opaque URL-safe string.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(cursorJSON{T: c.At.UnixMicro(), ID: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// CallQuery selects calls; empty fields do not filter. Calls are those
// that arrived in [From, To), newest first.
type CallQuery struct {
	From, To time.Time
	Agent    string
	Customer string
	Queue    string
	Segment  string
	Outcome  string
	// CSATMax (1-5) keeps rated calls rated at most that; 0 does not
	// filter.
	CSATMax int
	Limit   int
	After   *Cursor
}

// EventQuery selects events at [From, To), newest first.
type EventQuery struct {
	From, To time.Time
	Agent    string
	Customer string
	CallID   string
	Kind     string
	Limit    int
	After    *Cursor
}

// CallPage is one page of calls; Next is the cursor of the next page, ""
// on the last one.
type CallPage struct {
	Calls []Call `json:"calls"`
	Next  string `json:"next_cursor,omitempty"`
}

// EventPage is one page of events.
type EventPage struct {
	Events []Event `json:"events"`
	Next   string  `json:"next_cursor,omitempty"`
}

// QueryError is a bad query parameter (HTTP 400).
type QueryError struct {
	Param string
	Msg   string
}

func (e *QueryError) Error() string { return e.Param + ": " + e.Msg }

// IsQueryError tells whether err is a bad query parameter.
func IsQueryError(err error) bool {
	var qe *QueryError
	return errors.As(err, &qe)
}

// ParseCallQuery reads the history filters from URL parameters: from, to
// (RFC 3339 or YYYY-MM-DD, UTC), agent, customer, queue, segment,
// outcome, csat_max (1-5), limit (1-1000, default 50), cursor. Unknown
// parameters are refused so that a typo does not silently widen a search.
func ParseCallQuery(v url.Values) (CallQuery, error) {
	var q CallQuery
	p := params{v: v}
	q.From, q.To = p.time("from"), p.time("to")
	q.Agent, q.Customer, q.Queue = p.str("agent"), p.str("customer"), p.str("queue")
	q.Segment, q.Outcome = p.str("segment"), p.str("outcome")
	q.CSATMax = p.int("csat_max", 1, 5, 0)
	q.Limit = p.int("limit", 1, MaxLimit, DefaultLimit)
	q.After = p.cursor()
	p.only("from", "to", "agent", "customer", "queue", "segment", "outcome", "csat_max", "limit", "cursor", "urls")
	if p.err == nil && !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		p.err = &QueryError{"to", "must be after from"}
	}
	return q, p.err
}

// ParseEventQuery reads from, to, kind, call_id, limit and cursor.
func ParseEventQuery(v url.Values) (EventQuery, error) {
	var q EventQuery
	p := params{v: v}
	q.From, q.To = p.time("from"), p.time("to")
	q.Kind, q.CallID = p.str("kind"), p.str("call_id")
	q.Limit = p.int("limit", 1, MaxLimit, DefaultLimit)
	q.After = p.cursor()
	p.only("from", "to", "kind", "call_id", "limit", "cursor")
	if p.err == nil && !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		p.err = &QueryError{"to", "must be after from"}
	}
	return q, p.err
}

// CheckValue refuses a filter value no backend can hold: invalid UTF-8, a
// NUL byte or more than MaxValueLen bytes.
func CheckValue(param, s string) error {
	switch {
	case len(s) > MaxValueLen:
		return &QueryError{param, fmt.Sprintf("longer than %d bytes", MaxValueLen)}
	case !utf8.ValidString(s):
		return &QueryError{param, "not valid UTF-8"}
	case strings.IndexByte(s, 0) >= 0:
		return &QueryError{param, "contains a NUL byte"}
	}
	return nil
}

// params reads URL parameters, keeping the first error.
type params struct {
	v   url.Values
	err error
}

func (p *params) get(name string) (string, bool) {
	vs, ok := p.v[name]
	if !ok {
		return "", false
	}
	if len(vs) > 1 && p.err == nil {
		p.err = &QueryError{name, "given more than once"}
	}
	return vs[0], true
}

func (p *params) str(name string) string {
	s, _ := p.get(name)
	if err := CheckValue(name, s); err != nil && p.err == nil {
		p.err = err
		return ""
	}
	return s
}

func (p *params) int(name string, lo, hi, def int) int {
	s, ok := p.get(name)
	if !ok || s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		if p.err == nil {
			p.err = &QueryError{name, fmt.Sprintf("%q is not a whole number from %d to %d", truncate(s), lo, hi)}
		}
		return def
	}
	return n
}

func (p *params) time(name string) time.Time {
	s, ok := p.get(name)
	if !ok || s == "" {
		return time.Time{}
	}
	t, err := ParseTime(s)
	if err != nil && p.err == nil {
		p.err = &QueryError{name, fmt.Sprintf("%q is not an RFC 3339 time or a YYYY-MM-DD date", truncate(s))}
	}
	return t
}

func (p *params) cursor() *Cursor {
	s, ok := p.get("cursor")
	if !ok || s == "" {
		return nil
	}
	c, err := DecodeCursor(s)
	if err != nil && p.err == nil {
		p.err = &QueryError{"cursor", "not a cursor this API returned"}
	}
	return c
}

func (p *params) only(names ...string) {
	if p.err != nil {
		return
	}
	for k := range p.v {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			p.err = &QueryError{truncate(k), "unknown parameter"}
			return
		}
	}
}

// ParseTime reads an RFC 3339 time or a YYYY-MM-DD date (midnight UTC)
// between the years 1 and 9999.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if t.Year() < 1 {
			return time.Time{}, errors.New("year before 1")
		}
		return t.UTC().Truncate(time.Microsecond), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err == nil && t.Year() < 1 {
		return time.Time{}, errors.New("year before 1")
	}
	return t, err
}

// DecodeCursor reads a cursor made by Cursor.Encode.
func DecodeCursor(s string) (*Cursor, error) {
	if len(s) > 2*MaxValueLen {
		return nil, errors.New("cursor too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var c cursorJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	if err := CheckValue("cursor", c.ID); err != nil || c.ID == "" {
		return nil, errors.New("bad cursor id")
	}
	at := time.UnixMicro(c.T).UTC()
	if at.Year() < 1 || at.Year() > 9999 {
		return nil, errors.New("cursor time out of range")
	}
	return &Cursor{At: at, ID: c.ID}, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// matchCall is the filter of q in Go, the same as the SQL of the
// postgres backend (the file backend uses it).
func (q *CallQuery) match(c *Call) bool {
	switch {
	case !q.From.IsZero() && c.Arrived.Before(q.From):
		return false
	case !q.To.IsZero() && !c.Arrived.Before(q.To):
		return false
	case q.Agent != "" && c.Agent != q.Agent,
		q.Customer != "" && c.Customer != q.Customer,
		q.Queue != "" && c.Queue != q.Queue,
		q.Segment != "" && c.Segment != q.Segment,
		q.Outcome != "" && c.Outcome != q.Outcome:
		return false
	case q.CSATMax > 0 && (c.CSAT == nil || *c.CSAT > q.CSATMax):
		return false
	case q.After != nil && !before(c.Arrived, c.CallID, q.After):
		return false
	}
	return true
}

func (q *EventQuery) match(e *Event) bool {
	switch {
	case !q.From.IsZero() && e.At.Before(q.From):
		return false
	case !q.To.IsZero() && !e.At.Before(q.To):
		return false
	case q.Agent != "" && e.Agent != q.Agent,
		q.Customer != "" && e.Customer != q.Customer,
		q.CallID != "" && e.CallID != q.CallID,
		q.Kind != "" && e.Kind != q.Kind:
		return false
	case q.After != nil && !before(e.At, e.ID, q.After):
		return false
	}
	return true
}

// before tells whether (at, id) comes after the cursor in newest-first
// order, i.e. (at, id) < (c.At, c.ID).
func before(at time.Time, id string, c *Cursor) bool {
	if !at.Equal(c.At) {
		return at.Before(c.At)
	}
	return id < c.ID
}
