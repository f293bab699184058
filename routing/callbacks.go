package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

// ErrNoCallback is returned for a callback id the store does not hold (or
// one already claimed, for Claim).
var ErrNoCallback = errors.New("routing: no such pending callback")

// Callback kinds.
const (
	// CallbackQueued: a caller left the queue asking to be called back;
	// the callback keeps their place (Arrived).
	CallbackQueued = "queued"
	// CallbackFollowUp: a check after a complaint or a low rating.
	CallbackFollowUp = "follow_up"
)

// Callback is a call to place to a customer.
type Callback struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Number     string `json:"number"`
	CustomerID string `json:"customer_id,omitempty"`
	Queue      string `json:"queue"`
	Priority   int    `json:"priority"`
	Reason     string `json:"reason,omitempty"`
	// Arrived is the place in the queue to enqueue the callback with.
	Arrived time.Time `json:"arrived"`
	// Due is the earliest time to place the call.
	Due      time.Time `json:"due"`
	Created  time.Time `json:"created"`
	Attempts int       `json:"attempts"`
	// Claimed is set while a dialer works on it; a restart releases it.
	Claimed bool `json:"claimed"`
}

// CallbackStore keeps pending callbacks, in memory and (when it has a
// path) in a JSON file rewritten atomically on every change, so they
// survive a restart. Safe for concurrent use.
type CallbackStore struct {
	path string
	now  func() time.Time

	mu    sync.Mutex
	items map[string]*Callback
	seq   uint64
}

type callbackFile struct {
	Seq       uint64     `json:"seq"`
	Callbacks []Callback `json:"callbacks"`
}

// OpenCallbackStore loads the callbacks kept in path (which need not
// exist yet; "" keeps them in memory only). Callbacks claimed when the
// process stopped are pending again.
func OpenCallbackStore(path string, now func() time.Time) (*CallbackStore, error) {
	if now == nil {
		now = time.Now
	}
	s := &CallbackStore{path: path, now: now, items: map[string]*Callback{}}
	if path == "" {
		return s, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("callbacks: %w", err)
	}
	var f callbackFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("callbacks %s: %w", path, err)
	}
	s.seq = f.Seq
	for i := range f.Callbacks {
		cb := f.Callbacks[i]
		cb.Claimed = false
		s.items[cb.ID] = &cb
	}
	return s, nil
}

func (s *CallbackStore) saveLocked() error {
	if s.path == "" {
		return nil
	}
	f := callbackFile{Seq: s.seq, Callbacks: s.listLocked()}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("callbacks: %w", err)
	}
	if err := writeFileAtomic(s.path, data); err != nil {
		return fmt.Errorf("callbacks: %w", err)
	}
	return nil
}

func (s *CallbackStore) listLocked() []Callback {
	out := make([]Callback, 0, len(s.items))
	for _, cb := range s.items {
		out = append(out, *cb)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Due.Equal(out[j].Due) {
			return out[i].Due.Before(out[j].Due)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Add stores a callback, giving it an id (and Created, Due and Arrived
// when zero).
func (s *CallbackStore) Add(cb Callback) (Callback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.seq++
	cb.ID = "cb-" + strconv.FormatUint(s.seq, 10)
	if cb.Created.IsZero() {
		cb.Created = now
	}
	if cb.Due.IsZero() {
		cb.Due = now
	}
	if cb.Arrived.IsZero() {
		cb.Arrived = cb.Due
	}
	cb.Claimed = false
	c := cb
	s.items[cb.ID] = &c
	return cb, s.saveLocked()
}

// Due returns the unclaimed callbacks due at now: queued ones by their
// place in the queue, then follow-ups by due time.
func (s *CallbackStore) Due(now time.Time) []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Callback
	for _, cb := range s.items {
		if !cb.Claimed && !cb.Due.After(now) {
			out = append(out, *cb)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Arrived.Equal(out[j].Arrived) {
			return out[i].Arrived.Before(out[j].Arrived)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Claim marks a pending callback as being worked on, so no other dialer
// takes it.
func (s *CallbackStore) Claim(id string) (Callback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb, ok := s.items[id]
	if !ok || cb.Claimed {
		return Callback{}, ErrNoCallback
	}
	cb.Claimed = true
	cb.Attempts++
	return *cb, s.saveLocked()
}

// Complete removes a callback that was placed.
func (s *CallbackStore) Complete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.items[id]; !ok {
		return ErrNoCallback
	}
	delete(s.items, id)
	return s.saveLocked()
}

// Retry releases a claimed callback to be tried again at a later time.
func (s *CallbackStore) Retry(id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb, ok := s.items[id]
	if !ok {
		return ErrNoCallback
	}
	cb.Claimed = false
	cb.Due = at
	return s.saveLocked()
}

// List returns every callback by due time.
func (s *CallbackStore) List() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listLocked()
}

// FollowUps decides whether a finished call needs a follow-up callback
// and when: after a complaint (reason "complaint" or an open complaint in
// the customer's history) or a rating at or below the low-CSAT mark, at
// the next business day's opening (or after the configured delay), never
// in the customer's quiet hours nor outside the schedule.
type FollowUps struct {
	sched   *Schedule // nil: always open
	delay   time.Duration
	lowCSAT int
	quiet   []span
	queue   string
}

// NewFollowUps builds the follow-up policy of a validated configuration;
// r supplies the compiled schedules.
func NewFollowUps(c *Config, r *Router) *FollowUps {
	cb := c.Callbacks
	f := &FollowUps{delay: cb.FollowUpDelay, lowCSAT: cb.LowCSAT, quiet: parseQuiet(cb.QuietHours), queue: cb.Queue}
	name := cb.Schedule
	if name == "" {
		for _, q := range c.Queues {
			if q.Name == cb.Queue {
				name = q.Schedule
			}
		}
	}
	if s, ok := r.Schedule(name); ok {
		f.sched = s
	}
	return f
}

// Needed says whether a call calls for a follow-up. csat 0 means no rating.
func (f *FollowUps) Needed(c Customer, reason string, csat int) bool {
	return reason == "complaint" || c.History.OpenComplaint || (csat > 0 && csat <= f.lowCSAT)
}

// When returns the time to call the customer back after a call that ended
// at ended, or false when the schedule has no suitable time in the next
// 60 days.
func (f *FollowUps) When(ended time.Time, c Customer) (time.Time, bool) {
	quiet := f.quiet
	if c.QuietHours != "" {
		if sp, err := parseRange(c.QuietHours, true); err == nil {
			quiet = []span{sp}
		}
	}
	from := ended.Add(f.delay)
	if f.delay == 0 {
		loc := time.UTC
		if f.sched != nil {
			loc = f.sched.loc
		}
		lt := ended.In(loc)
		y, m, d := lt.Date()
		from = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	return f.sched.NextOpen(from, quiet)
}

// Plan returns the follow-up callback for a finished call, if one is
// needed and a time is found. Add it to a CallbackStore.
func (f *FollowUps) Plan(ended time.Time, c Customer, reason string, csat int) (Callback, bool) {
	if !f.Needed(c, reason, csat) || c.Number == "" {
		return Callback{}, false
	}
	at, ok := f.When(ended, c)
	if !ok {
		return Callback{}, false
	}
	why := "complaint"
	if reason != "complaint" && !c.History.OpenComplaint {
		why = fmt.Sprintf("low rating %d", csat)
	}
	return Callback{Kind: CallbackFollowUp, Number: c.Number, CustomerID: c.ID, Queue: f.queue,
		Reason: why, Due: at, Arrived: at}, true
}
