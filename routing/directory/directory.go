package directory

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hotline/internal/atomicfile"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"
)

// Errors of the customer directory.
var (
	// ErrBadStyle is returned by SetStyle for a style other than
	// proactive or reactive.
	ErrBadStyle = errors.New("routing: style must be proactive or reactive")
	// ErrNoNumber is returned for a caller ID that is not a phone number.
	ErrNoNumber = errors.New("routing: caller ID is not a phone number")
)

// Customer segments the domain names; the directory may carry others and
// rules match any name.
const (
	SegmentLoyal     = "loyal"
	SegmentPotential = "potential"
	SegmentLowValue  = "low_value"
	SegmentAtRisk    = "at_risk"
	SegmentUnknown   = "unknown"
)

// Service styles.
const (
	StyleProactive = "proactive" // wants to be guided (press 1)
	StyleReactive  = "reactive"  // wants it done for them (press 2)
	StyleUnknown   = "unknown"
)

// History is what the directory knows of a customer's past calls.
type History struct {
	Calls         int  `json:"calls" yaml:"calls"`
	LastCSAT      int  `json:"last_csat" yaml:"last_csat"`
	OpenComplaint bool `json:"open_complaint" yaml:"open_complaint"`
}

// Customer is one caller as the directory knows them.
type Customer struct {
	ID   string `json:"id" yaml:"id"`
	Name string `json:"name" yaml:"name"`
	// Number is the normalised number the customer was looked up by.
	Number string `json:"number,omitempty" yaml:"number"`
	// Numbers are every number filed for the customer (directory files).
	Numbers   []string `json:"numbers,omitempty" yaml:"numbers"`
	Segment   string   `json:"segment" yaml:"segment"`
	Style     string   `json:"style" yaml:"style"`
	Language  string   `json:"language,omitempty" yaml:"language"`
	LastAgent string   `json:"last_agent,omitempty" yaml:"last_agent"`
	// QuietHours ("HH:MM-HH:MM", may wrap midnight) replace the default
	// rest hours for callbacks to this customer.
	QuietHours string  `json:"quiet_hours,omitempty" yaml:"quiet_hours"`
	History    History `json:"history" yaml:"history"`
	// Known is false for callers found in no source.
	Known bool `json:"-" yaml:"-"`
}

// Unknown returns the customer record for a caller found nowhere.
func Unknown(number string) Customer {
	return Customer{Number: number, Segment: SegmentUnknown, Style: StyleUnknown}
}

func (c *Customer) fill(number string) {
	c.Number = number
	c.Known = true
	if c.Segment == "" {
		c.Segment = SegmentUnknown
	}
	if c.Style == "" {
		c.Style = StyleUnknown
	}
}

// customerIndex is an immutable snapshot of a directory file.
type customerIndex struct {
	byNumber map[string]*Customer
	modTime  time.Time
	size     int64
}

// parseCustomers reads a YAML ({customers: [...]}) or CSV customer list.
func parseCustomers(name string, data []byte, cc string) (map[string]*Customer, error) {
	var list []Customer
	if strings.HasSuffix(strings.ToLower(name), ".csv") {
		var err error
		if list, err = parseCustomerCSV(data); err != nil {
			return nil, err
		}
	} else {
		var doc struct {
			Customers []Customer `yaml:"customers"`
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		list = doc.Customers
	}
	out := make(map[string]*Customer, len(list))
	for i := range list {
		c := list[i]
		if c.Style != "" && c.Style != StyleProactive && c.Style != StyleReactive && c.Style != StyleUnknown {
			return nil, fmt.Errorf("customer %d (%s): style %q is not one of proactive, reactive, unknown", i+1, c.ID, c.Style)
		}
		if c.Number != "" {
			c.Numbers = append(c.Numbers, c.Number)
		}
		if len(c.Numbers) == 0 {
			return nil, fmt.Errorf("customer %d (%s): no number", i+1, c.ID)
		}
		for _, raw := range c.Numbers {
			n := NormalizeNumber(raw, cc)
			if n == "" {
				return nil, fmt.Errorf("customer %d (%s): %q is not a phone number", i+1, c.ID, raw)
			}
			if prev, dup := out[n]; dup && prev.ID != c.ID {
				return nil, fmt.Errorf("customer %d (%s): number %s is already filed for %s", i+1, c.ID, n, prev.ID)
			}
			cc := c
			cc.fill(n)
			out[n] = &cc
		}
	}
	return out, nil
}

// parseCustomerCSV reads a CSV with a header row naming the columns id,
// name, numbers (several separated by ; or |), segment, style, language,
// last_agent, calls, last_csat, open_complaint, quiet_hours. Columns may
// come in any order; unknown columns are an error.
func parseCustomerCSV(data []byte) ([]Customer, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.TrimLeadingSpace = true
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	cols := map[string]int{}
	for i, h := range rows[0] {
		h = strings.ToLower(strings.TrimSpace(h))
		switch h {
		case "id", "name", "number", "numbers", "segment", "style", "language", "last_agent", "calls", "last_csat", "open_complaint", "quiet_hours":
			cols[h] = i
		default:
			return nil, fmt.Errorf("line 1: unknown column %q", h)
		}
	}
	var out []Customer
	for ln, row := range rows[1:] {
		get := func(k string) string {
			if i, ok := cols[k]; ok && i < len(row) {
				return strings.TrimSpace(row[i])
			}
			return ""
		}
		atoi := func(k string) (int, error) {
			v := get(k)
			if v == "" {
				return 0, nil
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("line %d: %s %q is not a number", ln+2, k, v)
			}
			return n, nil
		}
		c := Customer{ID: get("id"), Name: get("name"), Segment: get("segment"), Style: get("style"),
			Language: get("language"), LastAgent: get("last_agent"), QuietHours: get("quiet_hours")}
		nums := get("numbers") + ";" + get("number")
		for _, n := range strings.FieldsFunc(nums, func(r rune) bool { return r == ';' || r == '|' }) {
			if n = strings.TrimSpace(n); n != "" {
				c.Numbers = append(c.Numbers, n)
			}
		}
		var err error
		if c.History.Calls, err = atoi("calls"); err != nil {
			return nil, err
		}
		if c.History.LastCSAT, err = atoi("last_csat"); err != nil {
			return nil, err
		}
		if v := get("open_complaint"); v != "" {
			if c.History.OpenComplaint, err = strconv.ParseBool(v); err != nil {
				return nil, fmt.Errorf("line %d: open_complaint %q is not true or false", ln+2, v)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// Options are the directory's dependencies.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
	// HTTPClient is used for the CRM; default: a client without its own
	// timeout (each lookup is bounded by the configured timeout).
	HTTPClient *http.Client
	// OnCRMError, when set, is told of every failed CRM lookup (after
	// which the caller is treated as unknown), e.g. to count it.
	OnCRMError func(error)
}

// Directory looks callers up by caller ID: in a customer file, then in a
// CRM, and remembers the service style callers choose by keypad. It is
// safe for concurrent use; reloading the file never blocks lookups.
type Directory struct {
	cfg   Config
	now   func() time.Time
	log   *slog.Logger
	index atomic.Pointer[customerIndex]
	crm   *crmSource
	// crmError is Options.OnCRMError (nil: none).
	crmError func(error)

	reloadMu sync.Mutex // one reload at a time

	styleMu sync.Mutex
	styles  map[string]string // number -> style chosen by keypad
	// calls Hotline handled since the customer file was written, by number
	history map[string]CallHistory
}

// New opens the directory a (defaulted, validated) configuration
// describes: the customer file is read now and must be valid.
func New(c Config, o Options) (*Directory, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Directory{cfg: c, now: o.Now, log: o.Logger, crmError: o.OnCRMError, styles: map[string]string{}, history: map[string]CallHistory{}}
	d.index.Store(&customerIndex{byNumber: map[string]*Customer{}})
	if c.File != "" {
		if err := d.Reload(); err != nil {
			return nil, err
		}
	}
	if c.CRM.URL != "" {
		crm, err := newCRMSource(c.CRM, o.HTTPClient, o.Now)
		if err != nil {
			return nil, fmt.Errorf("directory.crm: %w", err)
		}
		d.crm = crm
	}
	if c.StateFile != "" {
		data, err := os.ReadFile(c.StateFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("directory state: %w", err)
		default:
			var st directoryState
			if err := json.Unmarshal(data, &st); err != nil {
				return nil, fmt.Errorf("directory state %s: %w", c.StateFile, err)
			}
			for n, s := range st.Styles {
				d.styles[n] = s
			}
			for n, h := range st.History {
				d.history[n] = h
			}
		}
	}
	return d, nil
}

// directoryState is the JSON state file.
type directoryState struct {
	Styles  map[string]string      `json:"styles"`
	History map[string]CallHistory `json:"history,omitempty"`
}

// CallHistory is what Hotline learned of a caller's calls, on top of the
// customer file or CRM.
type CallHistory struct {
	Calls     int       `json:"calls"`
	LastCSAT  int       `json:"last_csat,omitempty"` // 0: no rating
	LastAgent string    `json:"last_agent,omitempty"`
	LastCall  time.Time `json:"last_call"`
}

// Reload reads the customer file again (e.g. on SIGHUP). On error the
// previous contents stay in use. Lookups in progress are not disturbed.
func (d *Directory) Reload() error {
	if d.cfg.File == "" {
		return nil
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	return d.reloadLocked()
}

func (d *Directory) reloadLocked() error {
	f, err := os.Open(d.cfg.File)
	if err != nil {
		return fmt.Errorf("customer file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("customer file: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("customer file: %w", err)
	}
	m, err := parseCustomers(d.cfg.File, data, d.cfg.CountryCode)
	if err != nil {
		return fmt.Errorf("customer file %s: %w", d.cfg.File, err)
	}
	d.index.Store(&customerIndex{byNumber: m, modTime: st.ModTime(), size: st.Size()})
	d.log.Info("customer directory loaded", "file", d.cfg.File, "numbers", len(m))
	return nil
}

// reloadIfChanged reloads the file when its modification time or size
// changed since it was last read.
func (d *Directory) reloadIfChanged() error {
	st, err := os.Stat(d.cfg.File)
	if err != nil {
		return fmt.Errorf("customer file: %w", err)
	}
	cur := d.index.Load()
	if st.ModTime().Equal(cur.modTime) && st.Size() == cur.size {
		return nil
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	return d.reloadLocked()
}

// Watch polls the customer file every ReloadInterval and reloads it when
// it changed, until ctx ends. Failed reloads are logged and the previous
// contents kept.
func (d *Directory) Watch(ctx context.Context) {
	if d.cfg.File == "" || d.cfg.ReloadInterval <= 0 {
		return
	}
	t := time.NewTicker(d.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.reloadIfChanged(); err != nil {
				d.log.Warn("customer file not reloaded; keeping the previous one", "error", err)
			}
		}
	}
}

// Lookup finds the customer calling from a caller ID. It always returns a
// customer: an unknown one (segment and style "unknown") when no source
// knows the number or the CRM fails or is slower than its timeout. A style
// the caller chose by keypad fills in a style the sources do not know.
func (d *Directory) Lookup(ctx context.Context, callerID string) Customer {
	n := NormalizeNumber(callerID, d.cfg.CountryCode)
	if n == "" {
		return Unknown("")
	}
	var c Customer
	if p, ok := d.index.Load().byNumber[n]; ok {
		c = *p
	} else if d.crm != nil {
		var found bool
		var err error
		c, found, err = d.crm.lookup(ctx, n)
		if err != nil {
			d.log.Warn("CRM lookup failed; caller treated as unknown", "number", n, "error", err)
			if d.crmError != nil {
				d.crmError(err)
			}
		}
		if !found {
			c = Unknown(n)
		}
	} else {
		c = Unknown(n)
	}
	d.styleMu.Lock()
	if c.Style == StyleUnknown || c.Style == "" {
		if s, ok := d.styles[n]; ok {
			c.Style = s
		}
	}
	if h, ok := d.history[n]; ok {
		c.History.Calls += h.Calls
		if h.LastCSAT > 0 {
			c.History.LastCSAT = h.LastCSAT
		}
		if h.LastAgent != "" {
			c.LastAgent = h.LastAgent
		}
	}
	d.styleMu.Unlock()
	return c
}

// NoteCall adds a finished call to the caller's history: one more call,
// the agent who took it and the rating they gave (0: none). It is kept in
// memory and in the state file (when configured).
func (d *Directory) NoteCall(callerID, agent string, csat int, at time.Time) error {
	n := NormalizeNumber(callerID, d.cfg.CountryCode)
	if n == "" {
		return ErrNoNumber
	}
	d.styleMu.Lock()
	defer d.styleMu.Unlock()
	h := d.history[n]
	h.Calls++
	if csat > 0 {
		h.LastCSAT = csat
	}
	if agent != "" {
		h.LastAgent = agent
	}
	h.LastCall = at
	d.history[n] = h
	return d.saveLocked()
}

// saveLocked writes the state file; styleMu is held.
func (d *Directory) saveLocked() error {
	if d.cfg.StateFile == "" {
		return nil
	}
	data, err := json.MarshalIndent(directoryState{Styles: d.styles, History: d.history}, "", "  ")
	if err != nil {
		return fmt.Errorf("directory state: %w", err)
	}
	if err := atomicfile.Write(d.cfg.StateFile, data); err != nil {
		return fmt.Errorf("directory state: %w", err)
	}
	return nil
}

// SetStyle remembers the service style a caller chose by keypad, in
// memory and in the state file (when configured), for their next call.
func (d *Directory) SetStyle(callerID, style string) error {
	if style != StyleProactive && style != StyleReactive {
		return ErrBadStyle
	}
	n := NormalizeNumber(callerID, d.cfg.CountryCode)
	if n == "" {
		return ErrNoNumber
	}
	d.styleMu.Lock()
	defer d.styleMu.Unlock()
	d.styles[n] = style
	return d.saveLocked()
}

// Size is the number of numbers in the customer file.
func (d *Directory) Size() int { return len(d.index.Load().byNumber) }
