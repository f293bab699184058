package records

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// fileBackend appends records as JSON lines to one file per UTC day (a
// call on the day it arrived, an event on the day it happened) and
// answers queries by reading the files of the days asked for, newest
// first. A record stored twice (a replayed spool) is read once.
type fileBackend struct {
	dir      string
	lookBack int
	now      func() time.Time
	mu       sync.RWMutex
	w        *bufio.Writer // appendFile's, reused under mu (64 KiB a flush otherwise)
}

func openFile(c FileConfig, now func() time.Time) (*fileBackend, error) {
	if err := os.MkdirAll(c.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("records: file backend: %w", err)
	}
	return &fileBackend{dir: c.Dir, lookBack: c.LookBackDays, now: now, w: bufio.NewWriterSize(nil, 64<<10)}, nil
}

const dayFileExt = ".jsonl"

func (f *fileBackend) path(day string) string { return filepath.Join(f.dir, day+dayFileExt) }

func (f *fileBackend) write(ctx context.Context, b *Batch) error {
	if d, ok := oneDay(b); ok {
		// Nearly every batch: no copy of its records into a day's.
		f.mu.Lock()
		defer f.mu.Unlock()
		if err := f.appendFile(f.path(d), b); err != nil {
			return fmt.Errorf("records: %w", err)
		}
		return nil
	}
	days := map[string]*Batch{}
	get := func(t time.Time) *Batch {
		d := t.UTC().Format(time.DateOnly)
		if days[d] == nil {
			days[d] = &Batch{}
		}
		return days[d]
	}
	for _, c := range b.Calls {
		p := get(c.Arrived)
		p.Calls = append(p.Calls, c)
	}
	for _, e := range b.Events {
		p := get(e.At)
		p.Events = append(p.Events, e)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for d, p := range days {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f.appendFile(f.path(d), p); err != nil {
			return fmt.Errorf("records: %w", err)
		}
	}
	return nil
}

// oneDay reports the day (UTC) of b's records when they all fall on the
// same one, as every batch but those across midnight do.
func oneDay(b *Batch) (string, bool) {
	var first time.Time
	switch {
	case len(b.Calls) > 0:
		first = b.Calls[0].Arrived
	case len(b.Events) > 0:
		first = b.Events[0].At
	default:
		return "", false
	}
	y, m, d := first.UTC().Date()
	same := func(t time.Time) bool {
		ty, tm, td := t.UTC().Date()
		return ty == y && tm == m && td == d
	}
	for _, c := range b.Calls {
		if !same(c.Arrived) {
			return "", false
		}
	}
	for _, e := range b.Events {
		if !same(e.At) {
			return "", false
		}
	}
	return first.UTC().Format(time.DateOnly), true
}

// appendFile appends b's lines to the day file at path and syncs it;
// f.mu is held.
func (f *fileBackend) appendFile(path string, b *Batch) error {
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	w := f.w
	w.Reset(fh)
	err = writeLines(w, b)
	if err == nil {
		err = w.Flush()
	}
	w.Reset(nil) // holds no file between flushes; a failed write's bytes are dropped with it
	if err == nil {
		err = fh.Sync()
	}
	return errors.Join(err, fh.Close())
}

// days lists the day files in [from, to], newest first.
func (f *fileBackend) days(from, to time.Time) ([]string, error) {
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	if to.IsZero() {
		to = f.now().AddDate(0, 0, 1)
	}
	if from.IsZero() {
		from = to.AddDate(0, 0, -f.lookBack)
	}
	lo, hi := from.UTC().Format(time.DateOnly), to.UTC().Format(time.DateOnly)
	var out []string
	for _, e := range ents {
		day, ok := strings.CutSuffix(e.Name(), dayFileExt)
		if !ok || e.IsDir() {
			continue
		}
		if _, err := time.Parse(time.DateOnly, day); err != nil {
			continue
		}
		if day >= lo && day <= hi {
			out = append(out, day)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out, nil
}

// scan reads one day file.
func (f *fileBackend) scan(day string, fn func(*line)) error {
	fh, err := os.Open(f.path(day))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("records: %w", err)
	}
	defer fh.Close()
	return readLines(fh, func(l *line) bool { fn(l); return true })
}

func (f *fileBackend) calls(ctx context.Context, q CallQuery) ([]Call, error) {
	out, err := collect(ctx, f, q.From, q.To, q.After, q.Limit, func(l *line) (*Call, string, time.Time) {
		if c := l.Call; c != nil && q.match(c) {
			return c, c.CallID, c.Arrived
		}
		return nil, "", time.Time{}
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	if err := f.dispositions(ctx, out); err != nil {
		return out, err
	}
	return out, f.foldWrapUps(out)
}

// dispositionLookAhead is how many days after a call's arrival its
// disposition events are looked for (a code comes during wrap-up).
const dispositionLookAhead = 2

// dispositions fills each call's Disposition from its latest
// disposition event (by time, then id), read from the days of the calls'
// arrivals and the following dispositionLookAhead days.
func (f *fileBackend) dispositions(ctx context.Context, calls []Call) error {
	idx := make(map[string][]int, len(calls))
	from, to := calls[0].Arrived, calls[0].Arrived
	for i, c := range calls {
		idx[c.CallID] = append(idx[c.CallID], i)
		if c.Arrived.Before(from) {
			from = c.Arrived
		}
		if c.Arrived.After(to) {
			to = c.Arrived
		}
	}
	days, err := f.days(from, to.AddDate(0, 0, dispositionLookAhead))
	if err != nil {
		return err
	}
	latest := map[string]*Event{}
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, d := range days {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := f.scan(d, func(l *line) {
			e := l.Event
			if e == nil || e.Kind != EventDisposition || idx[e.CallID] == nil {
				return
			}
			if p := latest[e.CallID]; p == nil || before(p.At, p.ID, &Cursor{At: e.At, ID: e.ID}) {
				latest[e.CallID] = e
			}
		})
		if err != nil {
			return err
		}
	}
	for id, e := range latest {
		for _, i := range idx[id] {
			calls[i].Disposition = e.Reason
		}
	}
	return nil
}

// foldWrapUps gives calls their wrap-up times: the sum of their wrap_up
// events (each id once), which are in the file of the day the wrap-up
// ended: the call's day or a later one (up to wrapUpDays later).
func (f *fileBackend) foldWrapUps(calls []Call) error {
	idx := make(map[string]int, len(calls))
	days := map[string]bool{}
	for i, c := range calls {
		idx[c.CallID] = i
		for d := 0; d <= wrapUpDays; d++ {
			days[c.Arrived.UTC().AddDate(0, 0, d).Format(time.DateOnly)] = true
		}
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	sums, seen := map[string]float64{}, map[string]bool{}
	for d := range days {
		err := f.scan(d, func(l *line) {
			if e := l.Event; e != nil && e.Kind == EventWrapUp && !seen[e.ID] {
				if _, ok := idx[e.CallID]; ok {
					seen[e.ID] = true
					sums[e.CallID] += e.Duration
				}
			}
		})
		if err != nil {
			return err
		}
	}
	for id, s := range sums {
		calls[idx[id]].WrapUp = s
	}
	return nil
}

// wrapUpDays is how many days after a call's arrival its wrap-up may end
// and still be folded into its row (a call across midnight, a long
// wrap-up).
const wrapUpDays = 1

func (f *fileBackend) events(ctx context.Context, q EventQuery) ([]Event, error) {
	return collect(ctx, f, q.From, q.To, q.After, q.Limit, func(l *line) (*Event, string, time.Time) {
		if e := l.Event; e != nil && q.match(e) {
			return e, e.ID, e.At
		}
		return nil, "", time.Time{}
	})
}

// collect reads the day files of [from, to) newest first and returns up
// to limit+1 of the records pick keeps (nil: not kept), newest first by
// (time, id), each id once.
func collect[T any](ctx context.Context, f *fileBackend, from, to time.Time, after *Cursor, limit int,
	pick func(*line) (*T, string, time.Time)) ([]T, error) {
	if after != nil && (to.IsZero() || after.At.Before(to)) {
		to = after.At.Add(time.Microsecond)
	}
	days, err := f.days(from, to)
	if err != nil {
		return nil, err
	}
	type row struct {
		v  T
		id string
		at time.Time
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []T
	for _, d := range days {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		var day []row
		err := f.scan(d, func(l *line) {
			if v, id, at := pick(l); v != nil && !seen[id] {
				seen[id] = true
				day = append(day, row{*v, id, at})
			}
		})
		if err != nil {
			return nil, err
		}
		sort.Slice(day, func(i, j int) bool { return before(day[j].at, day[j].id, &Cursor{At: day[i].at, ID: day[i].id}) })
		for _, r := range day {
			out = append(out, r.v)
		}
		if len(out) > limit {
			return out[:limit+1], nil
		}
	}
	return out, nil
}

func (f *fileBackend) close() error { return nil }
