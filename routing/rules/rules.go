package rules

import (
	"errors"
	"fmt"
	"hotline/routing/config"
	"hotline/routing/directory"
	"hotline/routing/schedule"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Attributes are what routing rules look at for one call.
type Attributes struct {
	Segment string
	Style   string
	Reason  string
	// Dialled is the hotline number called.
	Dialled string
	// Caller is the caller's number, normalised (directory.NormalizeNumber).
	Caller string
}

// SkillReq is a required skill and its minimum level.
type SkillReq struct {
	Skill string
	Level int
}

// Decision is what to do with a call.
type Decision struct {
	// Action is queue, message, voicemail or callback.
	Action string
	// Queue is where the call waits (action queue) or the queue a
	// voicemail or callback belongs to.
	Queue    string
	Priority int
	// Skills are required of the agent. Shared: do not modify.
	Skills []SkillReq
	// Message names the prompt for message, voicemail and callback.
	Message string
	// Rule is the name (or "rules[i]") of the rule that matched.
	Rule string
	// Open and Band describe the schedule consulted (Open is true when
	// none applies).
	Open bool
	Band string
	// AfterHours is set when the queue's schedule was closed and the
	// queue's after-hours action replaced the rule's queue.
	AfterHours bool
}

type compiledRule struct {
	name          string
	segments      []string
	styles        []string
	reasons       []string
	numbers       []string
	prefixes      []string
	sched         int // index into routes.scheds, -1 none
	when          int8
	bands         []string
	queue         int // index into routes.queues, -1 for an action
	priority      int
	skills        []SkillReq
	action        config.ActionConfig
	needsSchedule bool
}

type routerQueue struct {
	name       string
	sched      int
	afterHours config.ActionConfig
}

// Router decides where calls go from the configured rules, queues and
// schedules. It is safe for concurrent use; Replace swaps in a new
// configuration's rules at once (a decision uses one or the other).
type Router struct {
	p atomic.Pointer[routes]
}

// routes are the compiled rules, queues and schedules of one configuration.
type routes struct {
	rules  []compiledRule
	queues []routerQueue
	scheds []*schedule.Schedule
	cc     string
}

// maxCachedSchedules bounds the per-decision cache of schedule states.
const maxCachedSchedules = 16

// NewRouter compiles a validated configuration (SetDefaults and Validate
// must have been called).
func NewRouter(c *config.Config) (*Router, error) {
	rt, err := compile(c)
	if err != nil {
		return nil, err
	}
	r := &Router{}
	r.p.Store(rt)
	return r, nil
}

// Replace compiles a new validated configuration's rules, queues and
// schedules and makes them the router's; on error the router keeps the
// ones it has.
func (r *Router) Replace(c *config.Config) error {
	rt, err := compile(c)
	if err != nil {
		return err
	}
	r.p.Store(rt)
	return nil
}

func compile(c *config.Config) (*routes, error) {
	r := &routes{cc: c.Directory.CountryCode}
	schedIdx := map[string]int{}
	for _, sc := range c.Schedules {
		s, err := schedule.Compile(sc)
		if err != nil {
			return nil, fmt.Errorf("schedule %q: %w", sc.Name, err)
		}
		schedIdx[sc.Name] = len(r.scheds)
		r.scheds = append(r.scheds, s)
	}
	lookupSched := func(name string) (int, error) {
		if name == "" {
			return -1, nil
		}
		i, ok := schedIdx[name]
		if !ok {
			return -1, fmt.Errorf("unknown schedule %q", name)
		}
		return i, nil
	}
	queueIdx := map[string]int{}
	for _, q := range c.Queues {
		si, err := lookupSched(q.Schedule)
		if err != nil {
			return nil, err
		}
		queueIdx[q.Name] = len(r.queues)
		r.queues = append(r.queues, routerQueue{name: q.Name, sched: si, afterHours: q.AfterHours})
	}
	if len(c.Rules) == 0 {
		return nil, errors.New("routing: no rules")
	}
	for i, rc := range c.Rules {
		cr := compiledRule{
			name: rc.Name, segments: rc.Segments, styles: rc.Styles, reasons: rc.Reasons,
			numbers: rc.Numbers, bands: rc.Bands, priority: rc.Priority, action: rc.Action, queue: -1,
		}
		if cr.name == "" {
			cr.name = fmt.Sprintf("rules[%d]", i)
		}
		for _, p := range rc.CallerPrefixes {
			cr.prefixes = append(cr.prefixes, directory.NormalizePrefix(p, r.cc))
		}
		switch rc.When {
		case "open":
			cr.when = 1
		case "closed":
			cr.when = 2
		}
		if rc.Action.Type == "" {
			qi, ok := queueIdx[rc.Queue]
			if !ok {
				return nil, fmt.Errorf("rule %s: unknown queue %q", cr.name, rc.Queue)
			}
			cr.queue = qi
		}
		si, err := lookupSched(rc.Schedule)
		if err != nil {
			return nil, err
		}
		if si < 0 && cr.queue >= 0 {
			si = r.queues[cr.queue].sched
		}
		cr.sched = si
		cr.needsSchedule = cr.when != 0 || len(cr.bands) > 0
		if cr.needsSchedule && si < 0 {
			return nil, fmt.Errorf("rule %s: when/bands without a schedule", cr.name)
		}
		for _, k := range slices.Sorted(maps.Keys(rc.Skills)) {
			cr.skills = append(cr.skills, SkillReq{Skill: k, Level: rc.Skills[k]})
		}
		r.rules = append(r.rules, cr)
	}
	return r, nil
}

// Schedule returns a compiled schedule by name.
func (r *Router) Schedule(name string) (*schedule.Schedule, bool) {
	for _, s := range r.p.Load().scheds {
		if s.Name() == name {
			return s, true
		}
	}
	return nil, false
}

// QueueSchedule returns the schedule of a queue; false for an unknown
// queue or one without a schedule (always open).
func (r *Router) QueueSchedule(queue string) (*schedule.Schedule, bool) {
	rt := r.p.Load()
	for _, q := range rt.queues {
		if q.name == queue && q.sched >= 0 {
			return rt.scheds[q.sched], true
		}
	}
	return nil, false
}

// QueueOpen reports whether a queue's schedule is open at t; a queue
// without a schedule, or not configured, always is.
func (r *Router) QueueOpen(queue string, t time.Time) bool {
	s, ok := r.QueueSchedule(queue)
	return !ok || s.Open(t)
}

func matchList(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func matchPrefix(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	for _, p := range list {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

// Decide applies the rules, in order, to a call at time now. The first
// matching rule wins; a rule sending the call to a queue whose schedule is
// closed gives the queue's after-hours action instead. It does not
// allocate.
func (r *Router) Decide(a Attributes, now time.Time) Decision {
	rt := r.p.Load()
	var cache [maxCachedSchedules]schedule.State
	var have uint32
	state := func(si int) schedule.State {
		if si < 0 {
			return schedule.State{Open: true}
		}
		if si < maxCachedSchedules {
			if have&(1<<si) != 0 {
				return cache[si]
			}
			cache[si] = rt.scheds[si].State(now)
			have |= 1 << si
			return cache[si]
		}
		return rt.scheds[si].State(now)
	}
	style := a.Style
	if style == "" {
		style = directory.StyleUnknown
	}
	segment := a.Segment
	if segment == "" {
		segment = directory.SegmentUnknown
	}
	for i := range rt.rules {
		cr := &rt.rules[i]
		if !matchList(cr.segments, segment) || !matchList(cr.styles, style) || !matchList(cr.reasons, a.Reason) ||
			!matchList(cr.numbers, a.Dialled) || !matchPrefix(cr.prefixes, a.Caller) {
			continue
		}
		var st schedule.State
		if cr.needsSchedule {
			st = state(cr.sched)
			if (cr.when == 1 && !st.Open) || (cr.when == 2 && st.Open) {
				continue
			}
			if len(cr.bands) > 0 && (st.Band == "" || !matchList(cr.bands, st.Band)) {
				continue
			}
		}
		d := Decision{Rule: cr.name, Priority: cr.priority}
		if cr.queue < 0 {
			d.Action, d.Queue, d.Message = cr.action.Type, cr.action.Queue, cr.action.Message
			st = state(cr.sched)
			d.Open, d.Band = st.Open, st.Band
			return d
		}
		q := &rt.queues[cr.queue]
		qs := state(q.sched)
		d.Open, d.Band = qs.Open, qs.Band
		if qs.Open {
			d.Action, d.Queue, d.Skills = config.ActionQueue, q.name, cr.skills
			return d
		}
		d.AfterHours = true
		d.Action, d.Queue, d.Message = q.afterHours.Type, q.afterHours.Queue, q.afterHours.Message
		if d.Queue == "" {
			d.Queue = q.name
		}
		return d
	}
	// Unreachable with a validated configuration (the last rule matches
	// everything), but never leave a caller without an answer.
	return Decision{Action: config.ActionMessage, Message: "closed", Rule: "none"}
}
