package schedule

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"hotline/internal/cfg"
)

// Span is a part of a day in seconds since local midnight: [start, end).
type Span struct{ start, end int32 }

func (s Span) has(sec int32) bool { return sec >= s.start && sec < s.end }

// parseClock parses "HH:MM" (00:00-24:00) into seconds since midnight.
func parseClock(s string) (int32, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM)", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM)", s)
	}
	return int32(hh*3600 + mm*60), nil
}

// ParseRange parses "HH:MM-HH:MM". With wrap, the end may be before the
// start (a range over midnight, returned with end < start).
func ParseRange(s string, wrap bool) (Span, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Span{}, fmt.Errorf("%q is not a range (HH:MM-HH:MM)", s)
	}
	start, err := parseClock(a)
	if err != nil {
		return Span{}, err
	}
	end, err := parseClock(b)
	if err != nil {
		return Span{}, err
	}
	if start == end || (!wrap && end < start) {
		return Span{}, fmt.Errorf("%q: the end must be after the start", s)
	}
	if start == 24*3600 {
		return Span{}, fmt.Errorf("%q: a range cannot start at 24:00", s)
	}
	return Span{start, end}, nil
}

// parseRanges parses a day's ranges, sorted, reporting overlaps. field
// names the list for errors.
func parseRanges(field string, list []string) ([]Span, []error) {
	var errs []error
	var out []Span
	for i, s := range list {
		sp, err := ParseRange(s, false)
		if err != nil {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("%s[%d]", field, i), "%v", err))
			continue
		}
		out = append(out, sp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	for i := 1; i < len(out); i++ {
		if out[i].start < out[i-1].end {
			errs = append(errs, cfg.Errorf(field, "ranges %s and %s overlap", fmtSpan(out[i-1]), fmtSpan(out[i])))
		}
	}
	return out, errs
}

func fmtSpan(s Span) string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", s.start/3600, s.start%3600/60, s.end/3600, s.end%3600/60)
}

// dateKey is a calendar date as yyyymmdd.
type dateKey int32

func keyOf(y int, m time.Month, d int) dateKey { return dateKey(y*10000 + int(m)*100 + d) }

func parseDate(s string) (dateKey, error) {
	t, err := time.Parse("2006-01-02", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
	}
	return keyOf(t.Date()), nil
}

type band struct {
	name string
	span Span
	days uint8 // bit per time.Weekday; 0x7f = every day
}

// Schedule is a compiled set of opening hours. It is immutable and safe
// for concurrent use.
type Schedule struct {
	name      string
	loc       *time.Location
	weekly    [7][]Span
	holidays  map[dateKey]struct{}
	overrides map[dateKey][]Span // nil slice: closed all day
	bands     []band
}

// State is a schedule's state at one moment.
type State struct {
	Open bool
	// Band is the first time band containing the moment ("" if none, and
	// always "" when closed).
	Band string
}

// Compile checks and compiles a schedule. Errors are field errors
// relative to the schedule.
func Compile(c Config) (*Schedule, error) {
	var errs []error
	s := &Schedule{name: c.Name, holidays: map[dateKey]struct{}{}, overrides: map[dateKey][]Span{}}
	if c.Name == "" {
		errs = append(errs, cfg.Errorf("name", "must not be empty"))
	}
	if c.Zone == "" {
		errs = append(errs, cfg.Errorf("zone", "must name an IANA time zone, e.g. Asia/Ho_Chi_Minh"))
	} else if loc, err := time.LoadLocation(c.Zone); err != nil {
		errs = append(errs, cfg.Errorf("zone", "%q is not a known IANA time zone", c.Zone))
	} else {
		s.loc = loc
	}
	days, names := c.Weekly.byDay()
	for d := range days {
		sp, e := parseRanges("weekly."+names[d], days[d])
		errs = append(errs, e...)
		s.weekly[d] = sp
	}
	for i, h := range c.Holidays {
		k, err := parseDate(h)
		if err != nil {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("holidays[%d]", i), "%v", err))
			continue
		}
		s.holidays[k] = struct{}{}
	}
	for i, o := range c.Overrides {
		p := fmt.Sprintf("overrides[%d]", i)
		k, err := parseDate(o.Date)
		if err != nil {
			errs = append(errs, cfg.Errorf(p+".date", "%v", err))
			continue
		}
		if _, dup := s.overrides[k]; dup {
			errs = append(errs, cfg.Errorf(p+".date", "%s is overridden twice", o.Date))
		}
		switch {
		case o.Closed && len(o.Hours) > 0:
			errs = append(errs, cfg.Errorf(p, "set either closed or hours, not both"))
		case !o.Closed && len(o.Hours) == 0:
			errs = append(errs, cfg.Errorf(p, "set closed: true or some hours"))
		}
		sp, e := parseRanges(p+".hours", o.Hours)
		errs = append(errs, e...)
		s.overrides[k] = sp
	}
	seen := map[string]bool{}
	for i, b := range c.Bands {
		p := fmt.Sprintf("bands[%d]", i)
		if b.Name == "" {
			errs = append(errs, cfg.Errorf(p+".name", "must not be empty"))
		} else if seen[b.Name] {
			errs = append(errs, cfg.Errorf(p+".name", "%q is already used", b.Name))
		}
		seen[b.Name] = true
		sp, err := ParseRange(b.Hours, false)
		if err != nil {
			errs = append(errs, cfg.Errorf(p+".hours", "%v", err))
		}
		bd := band{name: b.Name, span: sp, days: 0x7f}
		if len(b.Days) > 0 {
			bd.days = 0
			for j, d := range b.Days {
				wd, ok := weekdayNames[strings.ToLower(d)]
				if !ok {
					errs = append(errs, cfg.Errorf(fmt.Sprintf("%s.days[%d]", p, j), "%q is not one of mon, tue, wed, thu, fri, sat, sun", d))
					continue
				}
				bd.days |= 1 << wd
			}
		}
		s.bands = append(s.bands, bd)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Name is the schedule's name.
func (s *Schedule) Name() string { return s.name }

// Location is the schedule's time zone.
func (s *Schedule) Location() *time.Location { return s.loc }

func (s *Schedule) HasBand(name string) bool {
	for _, b := range s.bands {
		if b.name == name {
			return true
		}
	}
	return false
}

// dayRanges returns the open ranges of a local date.
func (s *Schedule) dayRanges(y int, m time.Month, d int, wd time.Weekday) []Span {
	k := keyOf(y, m, d)
	if sp, ok := s.overrides[k]; ok {
		return sp
	}
	if _, ok := s.holidays[k]; ok {
		return nil
	}
	return s.weekly[wd]
}

// State says whether the schedule is open at t, and in which band.
// It does not allocate.
func (s *Schedule) State(t time.Time) State {
	lt := t.In(s.loc)
	y, m, d := lt.Date()
	wd := lt.Weekday()
	hh, mm, ss := lt.Clock()
	sec := int32(hh*3600 + mm*60 + ss)
	for _, r := range s.dayRanges(y, m, d, wd) {
		if r.has(sec) {
			st := State{Open: true}
			for _, b := range s.bands {
				if b.days&(1<<wd) != 0 && b.span.has(sec) {
					st.Band = b.name
					break
				}
			}
			return st
		}
	}
	return State{}
}

// Open reports whether the schedule is open at t.
func (s *Schedule) Open(t time.Time) bool { return s.State(t).Open }

// NextOpen returns the earliest moment at or after t when the schedule is
// open and t is outside every quiet Span (quiet spans are daily, in the
// schedule's zone, and may wrap midnight). It looks at most 60 days ahead
// and returns false when nothing fits. A nil schedule is always open.
func (s *Schedule) NextOpen(t time.Time, quiet []Span) (time.Time, bool) {
	loc := time.UTC
	if s != nil {
		loc = s.loc
	}
	// Quiet spans as non-wrapping spans within a day.
	var q []Span
	for _, sp := range quiet {
		if sp.end < sp.start {
			q = append(q, Span{0, sp.end}, Span{sp.start, 24 * 3600})
		} else {
			q = append(q, sp)
		}
	}
	lt := t.In(loc)
	for day := 0; day < 60; day++ {
		y, m, d := lt.Date()
		base := time.Date(y, m, d, 0, 0, 0, 0, loc).AddDate(0, 0, day)
		y, m, d = base.Date()
		var from int32
		if day == 0 {
			hh, mm, ss := lt.Clock()
			from = int32(hh*3600 + mm*60 + ss)
		}
		open := []Span{{0, 24 * 3600}}
		if s != nil {
			open = s.dayRanges(y, m, d, base.Weekday())
		}
		for _, r := range open {
			start := max(r.start, from)
			for start < r.end {
				moved := false
				for _, qs := range q {
					if qs.has(start) {
						start = qs.end
						moved = true
					}
				}
				if !moved {
					at := time.Date(y, m, d, int(start/3600), int(start%3600/60), int(start%60), 0, loc)
					if day == 0 && at.Before(t) {
						at = t
					}
					return at, true
				}
			}
		}
	}
	return time.Time{}, false
}

// ParseQuiet parses quiet-hour ranges (already validated).
func ParseQuiet(list []string) []Span {
	var out []Span
	for _, s := range list {
		if sp, err := ParseRange(s, true); err == nil {
			out = append(out, sp)
		}
	}
	return out
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}
