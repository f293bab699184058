package callbacks

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hotline/internal/atomicfile"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"hotline/routing/schedule"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
)

// ErrNoCallback is returned for a callback id the store does not hold, one
// already completed or failed, or (for Claim) one already claimed.
var ErrNoCallback = errors.New("routing: no such pending callback")

// ErrNotClaimed is returned by Dialing for a callback no dialer claimed.
var ErrNotClaimed = errors.New("routing: the callback is not claimed")

// Callback kinds.
const (
	// Queued: a caller left the queue asking to be called back;
	// the callback keeps their place (Arrived).
	Queued = "queued"
	// FollowUp: a check after a complaint or a low rating.
	FollowUp = "follow_up"
)

// Callback statuses.
const (
	// Pending: to be placed at Due (Claimed while a dialer works on it).
	Pending = "pending"
	// Completed: the customer was connected to an agent.
	Completed = "completed"
	// Failed: given up (attempts exhausted, invalid number, no
	// time to call); kept listed with the reason in LastResult.
	Failed = "failed"
)

// CompletedKept is how long completed callbacks stay listed.
const CompletedKept = 7 * 24 * time.Hour

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
	Due     time.Time `json:"due"`
	Created time.Time `json:"created"`
	// Status is pending, completed or failed.
	Status string `json:"status"`
	// Attempts counts the calls placed to the customer.
	Attempts int `json:"attempts"`
	// LastAttempt is when the customer was last called, LastCallID that
	// call's Call-ID (the key of its recording), LastResult how the last
	// attempt ended (answered, busy, no_answer, ...) or why it failed.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastCallID  string    `json:"last_call_id,omitempty"`
	LastResult  string    `json:"last_result,omitempty"`
	// Finished is when it was completed or failed.
	Finished time.Time `json:"finished,omitzero"`
	// Claimed is set while a dialer works on it; a restart releases it.
	Claimed bool `json:"claimed"`
}

// Keeper keeps callbacks: the Store of one node, or a store every node
// of a cluster shares (cluster.Callbacks). Claim is exclusive across
// everything that shares the keeper: one dialer wins a callback.
type Keeper interface {
	Add(cb Callback) (Callback, error)
	Due(now time.Time) []Callback
	Claim(id string) (Callback, error)
	Dialing(id, callID string) (Callback, error)
	Complete(id string) error
	Retry(id string, at time.Time, result string) error
	Fail(id, reason string) error
	List() []Callback
}

var _ Keeper = (*Store)(nil)

// ErrUnavailable: the callbacks' storage did not answer (a shared store's
// server is unreachable); nothing was changed, the caller may try again.
var ErrUnavailable = errors.New("callback storage unavailable")

// ErrNoQueue: a callback asked for without a queue where no default
// queue is configured, or for a queue that does not exist.
var ErrNoQueue = errors.New("no queue")

// Request is a callback asked for by someone (the API): to Number, for
// Queue (default: the callbacks' queue), with Priority, Reason and Due
// (zero: now).
type Request struct {
	Number   string
	Queue    string
	Priority int
	Reason   string
	Due      time.Time
}

// Requested adds the callback r asks for to k, in the queue r names or
// else defaultQueue, which must be one of queues.
func Requested(k Keeper, queues []string, defaultQueue string, r Request) (Callback, error) {
	queue := cmp.Or(r.Queue, defaultQueue)
	if queue == "" {
		return Callback{}, fmt.Errorf("%w: the request names none and callbacks.queue is not set", ErrNoQueue)
	}
	if !slices.Contains(queues, queue) {
		return Callback{}, fmt.Errorf("%w %q", ErrNoQueue, queue)
	}
	return k.Add(Callback{Kind: Queued, Number: r.Number, Queue: queue, Priority: r.Priority,
		Reason: cmp.Or(r.Reason, "requested through the API"), Due: r.Due})
}

// ReasonComplaint is the call reason (a keypad menu's) that makes a
// complaint: a follow-up callback is planned after it.
const ReasonComplaint = "complaint"

// OpenComplaint says whether the customer at number has a complaint not
// followed up yet: a pending follow-up callback for a complaint in cbs
// (a Keeper's List).
func OpenComplaint(cbs []Callback, number string) bool {
	if number == "" {
		return false
	}
	for _, cb := range cbs {
		if cb.Number == number && cb.Kind == FollowUp && cb.Status == Pending && cb.Reason == ReasonComplaint {
			return true
		}
	}
	return false
}

// Store keeps pending callbacks, in memory and (when it has a
// path) in a JSON file rewritten atomically on every change, so they
// survive a restart. Safe for concurrent use.
type Store struct {
	path string
	now  func() time.Time

	mu       sync.Mutex
	items    map[string]*Callback
	seq      uint64
	onChange func(Callback, string)
}

type callbackFile struct {
	Seq       uint64     `json:"seq"`
	Callbacks []Callback `json:"callbacks"`
}

// OpenStore loads the callbacks kept in path (which need not
// exist yet; "" keeps them in memory only). Callbacks claimed when the
// process stopped (a dialer was working on them) are pending again, with
// the attempts they had.
func OpenStore(path string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{path: path, now: now, items: map[string]*Callback{}}
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
		if cb.Status == "" {
			cb.Status = Pending
		}
		s.items[cb.ID] = &cb
	}
	return s, nil
}

func (s *Store) saveLocked() error {
	now := s.now()
	for id, cb := range s.items {
		if cb.Status == Completed && now.Sub(cb.Finished) > CompletedKept {
			delete(s.items, id)
		}
	}
	if s.path == "" {
		return nil
	}
	f := callbackFile{Seq: s.seq, Callbacks: s.listLocked()}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("callbacks: %w", err)
	}
	if err := atomicfile.Write(s.path, data); err != nil {
		return fmt.Errorf("callbacks: %w", err)
	}
	return nil
}

func (s *Store) listLocked() []Callback {
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
func (s *Store) Add(cb Callback) (Callback, error) {
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
	cb.Status = Pending
	c := cb
	s.items[cb.ID] = &c
	s.changedLocked(&c, "added")
	return cb, s.saveLocked()
}

// Due returns the pending, unclaimed callbacks due at now, by their
// place in the queue (Arrived). Whether now is a time the customer may be
// called (schedule, quiet hours) is the dialer's check (Window).
func (s *Store) Due(now time.Time) []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Callback
	for _, cb := range s.items {
		if cb.Status == Pending && !cb.Claimed && !cb.Due.After(now) {
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
// takes it. It counts no attempt: Dialing does, when the customer is
// called.
func (s *Store) Claim(id string) (Callback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb, ok := s.items[id]
	if !ok || cb.Claimed || cb.Status != Pending {
		return Callback{}, ErrNoCallback
	}
	cb.Claimed = true
	s.changedLocked(cb, "claimed")
	return *cb, s.saveLocked()
}

// Dialing counts an attempt of a claimed callback: the customer is being
// called with Call-ID callID. It is saved before the call is placed, so a
// crash during the call still counts it.
func (s *Store) Dialing(id, callID string) (Callback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb, ok := s.items[id]
	if !ok || cb.Status != Pending {
		return Callback{}, ErrNoCallback
	}
	if !cb.Claimed {
		return Callback{}, ErrNotClaimed
	}
	cb.Attempts++
	cb.LastAttempt = s.now()
	cb.LastCallID = callID
	s.changedLocked(cb, "dialing")
	return *cb, s.saveLocked()
}

// Complete marks a callback placed (the customer talked to an agent). It
// stays listed for a week.
func (s *Store) Complete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb, ok := s.items[id]
	if !ok || cb.Status != Pending {
		return ErrNoCallback
	}
	cb.Status, cb.Claimed, cb.Finished, cb.LastResult = Completed, false, s.now(), "answered"
	s.changedLocked(cb, "completed")
	return s.saveLocked()
}

// Retry releases a callback (claimed or not) to be tried again at a
// later time; result, when not empty, says how the last attempt ended.
func (s *Store) Retry(id string, at time.Time, result string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb, ok := s.items[id]
	if !ok || cb.Status != Pending {
		return ErrNoCallback
	}
	cb.Claimed = false
	cb.Due = at
	if result != "" {
		cb.LastResult = result
	}
	s.changedLocked(cb, "retry")
	return s.saveLocked()
}

// Fail gives a callback up with a reason. It stays listed (status failed)
// for a supervisor to see.
func (s *Store) Fail(id, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb, ok := s.items[id]
	if !ok || cb.Status != Pending {
		return ErrNoCallback
	}
	cb.Status, cb.Claimed, cb.Finished, cb.LastResult = Failed, false, s.now(), reason
	s.changedLocked(cb, "failed")
	return s.saveLocked()
}

// OnChange registers f to be told of every change of a callback: the
// callback as changed and what happened (added, claimed, dialing,
// completed, retry, failed). It is called with the store's lock held: it
// must return at once and not call the store.
func (s *Store) OnChange(f func(cb Callback, change string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange = f
}

func (s *Store) changedLocked(cb *Callback, change string) {
	if s.onChange != nil {
		s.onChange(*cb, change)
	}
}

// List returns every callback by due time: pending ones, completed ones of
// the last week and failed ones.
func (s *Store) List() []Callback {
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
	sched   *schedule.Schedule // nil: always open
	delay   time.Duration
	lowCSAT int
	quiet   []schedule.Span
	queue   string
}

// NewFollowUps builds the follow-up policy of a validated configuration;
// r supplies the compiled schedules.
func NewFollowUps(c *config.Config, r *rules.Router) *FollowUps {
	cb := c.Callbacks
	f := &FollowUps{delay: cb.FollowUpDelay, lowCSAT: cb.LowCSAT, quiet: schedule.ParseQuiet(cb.QuietHours), queue: cb.Queue}
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
func (f *FollowUps) Needed(c directory.Customer, reason string, csat int) bool {
	return reason == ReasonComplaint || c.History.OpenComplaint || (csat > 0 && csat <= f.lowCSAT)
}

// When returns the time to call the customer back after a call that ended
// at ended, or false when the schedule has no suitable time in the next
// 60 days.
func (f *FollowUps) When(ended time.Time, c directory.Customer) (time.Time, bool) {
	quiet := f.quiet
	if c.QuietHours != "" {
		if sp, err := schedule.ParseRange(c.QuietHours, true); err == nil {
			quiet = []schedule.Span{sp}
		}
	}
	from := ended.Add(f.delay)
	if f.delay == 0 {
		loc := time.UTC
		if f.sched != nil {
			loc = f.sched.Location()
		}
		lt := ended.In(loc)
		y, m, d := lt.Date()
		from = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	return f.sched.NextOpen(from, quiet)
}

// Plan returns the follow-up callback for a finished call, if one is
// needed and a time is found. Add it to a Store.
func (f *FollowUps) Plan(ended time.Time, c directory.Customer, reason string, csat int) (Callback, bool) {
	if !f.Needed(c, reason, csat) || c.Number == "" {
		return Callback{}, false
	}
	at, ok := f.When(ended, c)
	if !ok {
		return Callback{}, false
	}
	why := ReasonComplaint
	if reason != ReasonComplaint && !c.History.OpenComplaint {
		why = fmt.Sprintf("low rating %d", csat)
	}
	return Callback{Kind: FollowUp, Number: c.Number, CustomerID: c.ID, Queue: f.queue,
		Reason: why, Due: at, Arrived: at}, true
}

// Window says when callbacks may be placed: while the callback
// schedule is open (callbacks.schedule, else the callback's queue's; none:
// always) and outside quiet hours (the customer's own, else
// callbacks.quiet_hours), both in the schedule's zone. Immutable.
type Window struct {
	sched  *schedule.Schedule            // callbacks.schedule; nil: each queue's
	queues map[string]*schedule.Schedule // a queue's schedule (absent: always open)
	quiet  []schedule.Span
}

// NewWindow builds the window of a validated configuration; r
// supplies the compiled schedules.
func NewWindow(c *config.Config, r *rules.Router) *Window {
	w := &Window{queues: map[string]*schedule.Schedule{}, quiet: schedule.ParseQuiet(c.Callbacks.QuietHours)}
	if s, ok := r.Schedule(c.Callbacks.Schedule); ok && c.Callbacks.Schedule != "" {
		w.sched = s
	}
	for _, q := range c.Queues {
		if s, ok := r.Schedule(q.Schedule); ok && q.Schedule != "" {
			w.queues[q.Name] = s
		}
	}
	return w
}

// Next returns the earliest moment at or after t when a callback to a
// customer with quietHours ("" for the default ones; an invalid value
// also means the default ones) in queue may be placed: t itself when it
// may be placed now. It is false when no such moment comes within 60 days.
func (w *Window) Next(queue, quietHours string, t time.Time) (time.Time, bool) {
	quiet := w.quiet
	if quietHours != "" {
		if sp, err := schedule.ParseRange(quietHours, true); err == nil {
			quiet = []schedule.Span{sp}
		}
	}
	sched := w.sched
	if sched == nil {
		sched = w.queues[queue]
	}
	return sched.NextOpen(t, quiet)
}
