package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"hotline/internal/cfg"
)

// SegmentRule re-segments a customer from their history, after each of
// their calls. The directory (file or CRM) keeps the base segment; the
// first rule that matches overrides it from the next call on, until no
// rule matches any more. A rule matches when its ratings condition holds
// (at least Count calls within Within rated CSATAtMost or less, or
// CSATAtLeast or more) or, with OpenComplaint, when the customer has an
// open complaint (a pending follow-up callback for a complaint).
type SegmentRule struct {
	Name          string        `yaml:"name"`
	Segment       string        `yaml:"segment"`
	Count         int           `yaml:"count"`
	CSATAtMost    int           `yaml:"csat_at_most"`
	CSATAtLeast   int           `yaml:"csat_at_least"`
	Within        time.Duration `yaml:"within"`
	OpenComplaint bool          `yaml:"open_complaint"`
}

func (r *SegmentRule) ratings() bool { return r.Count > 0 }

func validateSegmentRules(rules []SegmentRule) error {
	var errs []error
	seen := map[string]bool{}
	for i, r := range rules {
		f := func(field, format string, args ...any) {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("segment_rules[%d].%s", i, field), format, args...))
		}
		switch {
		case r.Name == "":
			f("name", "must not be empty")
		case seen[r.Name]:
			f("name", "%q is used twice", r.Name)
		}
		seen[r.Name] = true
		if r.Segment == "" {
			f("segment", "must not be empty")
		}
		if !r.ratings() && !r.OpenComplaint {
			f("count", "a rule needs a ratings condition (count, csat_at_most or csat_at_least, within) or open_complaint")
		}
		if r.Count < 0 {
			f("count", "must not be negative")
		}
		if r.ratings() {
			if (r.CSATAtMost == 0) == (r.CSATAtLeast == 0) {
				f("csat_at_most", "give exactly one of csat_at_most, csat_at_least")
			}
			if r.CSATAtMost < 0 || r.CSATAtMost > 5 || r.CSATAtLeast < 0 || r.CSATAtLeast > 5 {
				f("csat_at_most", "ratings are 1 to 5")
			}
			if r.Within <= 0 {
				f("within", "must be positive (e.g. 720h for 30 days)")
			}
		}
	}
	return errors.Join(errs...)
}

// Override is a customer's segment as the rules set it.
type Override struct {
	Segment string    `json:"segment"`
	Rule    string    `json:"rule"`
	Since   time.Time `json:"since"`
	// Base is the directory's segment when the rule took over, what the
	// customer goes back to.
	Base string `json:"base"`
}

// stateSegments is the state kind keeping the overrides.
const stateSegments = "segments"

// Segmenter applies the segment rules after each call and keeps the
// overrides (state kind "segments", so they survive a restart). Each
// change is an event segment_changed (Customer, Reason: the rule, "" when
// no rule holds any more; Detail: from, to).
type Segmenter struct {
	rules  []SegmentRule
	within time.Duration // the longest rule window
	store  *Store
	log    *slog.Logger

	mu        sync.Mutex
	overrides map[string]Override
	work      chan segmentJob
	done      chan struct{}
}

type segmentJob struct {
	call          Call
	openComplaint bool
}

// NewSegmenter loads the overrides and starts the worker that applies
// the rules (Close stops it).
func NewSegmenter(ctx context.Context, store *Store, rules []SegmentRule, log *slog.Logger) (*Segmenter, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Segmenter{rules: rules, store: store, log: log, overrides: map[string]Override{},
		work: make(chan segmentJob, 4096), done: make(chan struct{})}
	for _, r := range rules {
		g.within = max(g.within, r.Within)
	}
	if _, err := store.LoadState(ctx, stateSegments, &g.overrides); err != nil {
		return nil, err
	}
	go g.run()
	return g, nil
}

// Segment is the customer's overriding segment, false when the base
// segment stands.
func (g *Segmenter) Segment(number string) (Override, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	o, ok := g.overrides[number]
	return o, ok
}

// After queues a finished call for the rules (its Segment is the one the
// call was routed with: the directory's unless a rule overrode it);
// openComplaint says whether
// its customer has an open complaint. It never blocks: when the worker is
// far behind the call is skipped (logged; the customer's next call
// applies the rules again).
func (g *Segmenter) After(c Call, openComplaint bool) {
	if c.Customer == "" || len(g.rules) == 0 {
		return
	}
	select {
	case g.work <- segmentJob{c, openComplaint}:
	default:
		g.log.Warn("segment rules skipped for a call: too many waiting", "call_id", c.CallID)
	}
}

// Close stops the worker after the calls queued so far.
func (g *Segmenter) Close() {
	close(g.work)
	<-g.done
}

func (g *Segmenter) run() {
	defer close(g.done)
	for j := range g.work {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := g.apply(ctx, j); err != nil {
			g.log.Warn("segment rules not applied", "call_id", j.call.CallID, "error", err)
		}
		cancel()
	}
}

// apply evaluates the rules for the call's customer and records a change.
func (g *Segmenter) apply(ctx context.Context, j segmentJob) error {
	number, at := j.call.Customer, j.call.Ended
	calls := []Call{j.call}
	if g.within > 0 {
		q := CallQuery{Customer: number, From: at.Add(-g.within), Limit: MaxLimit}
		p, err := g.store.Calls(ctx, q)
		if err != nil {
			return err
		}
		for _, c := range p.Calls {
			if c.CallID != j.call.CallID {
				calls = append(calls, c)
			}
		}
	}
	g.mu.Lock()
	cur, had := g.overrides[number]
	base, from := j.call.Segment, j.call.Segment
	if had {
		base, from = cur.Base, cur.Segment
	}
	var next *Override
	for _, r := range g.rules {
		if g.matches(&r, calls, at, j.openComplaint) {
			next = &Override{Segment: r.Segment, Rule: r.Name, Since: at, Base: base}
			break
		}
	}
	switch {
	case next == nil && !had, next != nil && had && next.Segment == cur.Segment && next.Rule == cur.Rule:
		g.mu.Unlock()
		return nil
	case next == nil:
		delete(g.overrides, number)
	default:
		g.overrides[number] = *next
	}
	snapshot := make(map[string]Override, len(g.overrides))
	for k, v := range g.overrides {
		snapshot[k] = v
	}
	g.mu.Unlock()
	to, rule := base, ""
	if next != nil {
		to, rule = next.Segment, next.Rule
	}
	detail, _ := json.Marshal(map[string]string{"from": from, "to": to})
	g.store.Event(Event{At: at, Kind: EventSegmentChanged, CallID: j.call.CallID, Customer: number, Reason: rule, Detail: detail})
	g.log.Info("customer re-segmented", "call_id", j.call.CallID, "customer", number, "from", from, "to", to, "rule", rule)
	return g.store.SaveState(ctx, stateSegments, snapshot)
}

func (g *Segmenter) matches(r *SegmentRule, calls []Call, at time.Time, openComplaint bool) bool {
	if r.OpenComplaint && openComplaint {
		return true
	}
	if !r.ratings() {
		return false
	}
	n := 0
	for _, c := range calls {
		if c.CSAT == nil || c.Ended.Before(at.Add(-r.Within)) {
			continue
		}
		if (r.CSATAtMost > 0 && *c.CSAT <= r.CSATAtMost) || (r.CSATAtLeast > 0 && *c.CSAT >= r.CSATAtLeast) {
			n++
		}
	}
	return n >= r.Count
}
