package config

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"hotline/internal/cfg"
	"hotline/routing/directory"
	"hotline/routing/schedule"
)

// This file holds the optional configuration sections of the routing
// engine (issue 3): the customer directory, schedules, queues, rules and
// callbacks. They sit beside the original hotlines/agents/queue sections;
// a configuration without them gets one queue named "default" that every
// agent belongs to and one rule that sends every call there.

// DefaultQueueName is the queue created when the configuration names none.
const DefaultQueueName = "default"

// Routing strategies: how a queue picks among eligible available agents.
const (
	StrategyLongestIdle   = "longest-idle"
	StrategyRoundRobin    = "round-robin"
	StrategyFewestCalls   = "fewest-calls"
	StrategyLeastTalkTime = "least-talk-time"
	StrategyRingAll       = "ring-all"
	StrategyTopDown       = "top-down"
	StrategyRandom        = "random"
)

// Strategies are every routing strategy, in the order the README lists them.
func Strategies() []string {
	return []string{StrategyLongestIdle, StrategyRoundRobin, StrategyFewestCalls, StrategyLeastTalkTime, StrategyRingAll, StrategyTopDown, StrategyRandom}
}

// QueueDef is one queue of the ACD.
type QueueDef struct {
	Name string `yaml:"name"`
	// TransferNumber is the number an agent's softphone transfers a call
	// to (REFER) to send it into this queue, e.g. "2001"; empty: the
	// queue is reachable by transfer only through the API (transfer.go).
	TransferNumber string `yaml:"transfer_number"`
	// Strategy is one of longest-idle (default), round-robin, fewest-calls,
	// least-talk-time, ring-all, top-down, random.
	Strategy string `yaml:"strategy"`
	// Schedule names the queue's opening hours; empty means always open.
	Schedule string `yaml:"schedule"`
	// AfterHours is what a call routed here gets while the schedule is
	// closed. Default: the "closed" message.
	AfterHours ActionConfig `yaml:"after_hours"`
	// WrapUp is the after-call work time before an agent gets another call.
	WrapUp time.Duration `yaml:"wrap_up"`
	// RingTimeout defaults to queue.ring_timeout.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// MaxWait defaults to queue.max_wait; past it the call goes to Overflow
	// (or ends when there is none).
	MaxWait time.Duration `yaml:"max_wait"`
	// MaxLength is the most calls waiting at once (0: no limit); more go to
	// Overflow or are refused.
	MaxLength int `yaml:"max_length"`
	// Overflow names the queue taking calls past MaxWait or MaxLength.
	Overflow string `yaml:"overflow"`
	// PreferredAgent offers a known customer's last agent the call first.
	PreferredAgent PreferredConfig `yaml:"preferred_agent"`
	// Escalation steps apply, in order, as the call waits.
	Escalation []EscalationStep `yaml:"escalation"`
	// Announce tells waiting callers their place and estimated wait
	// periodically; default queue.announce.
	Announce *AnnounceConfig `yaml:"announce"`
	// CallbackKey leaves the queue for a callback (0-9, * or #; "none"
	// disables); default queue.callback_key.
	CallbackKey string `yaml:"callback_key"`
	// WhenEmpty is what happens while nobody takes the queue's calls
	// (every agent logged out or paused), like Asterisk's joinempty and
	// leavewhenempty.
	WhenEmpty EmptyPolicy `yaml:"when_empty"`
}

// What an empty queue does with a caller (EmptyPolicy).
const (
	EmptyJoin       = "join"        // the caller waits (Join's default)
	EmptyStay       = "stay"        // the caller keeps waiting (Leave's default)
	EmptyRefuse     = "refuse"      // the caller hears Message, then Hotline hangs up
	EmptyAfterHours = "after_hours" // the queue's after_hours action
)

// EmptyPolicy says what a queue does while none of its agents takes
// calls: with nobody logged in, or everyone paused.
type EmptyPolicy struct {
	// Join is for a caller arriving then: join (default), refuse or
	// after_hours.
	Join string `yaml:"join"`
	// Leave is for the callers waiting when the last agent logs out or
	// pauses: stay (default), refuse or after_hours.
	Leave string `yaml:"leave"`
	// Message is the prompt of refuse; default "closed".
	Message string `yaml:"message"`
}

// AnnounceConfig is a queue's periodic announcement to waiting callers:
// their place ("you are caller number 3"), the estimated wait ("about 5
// minutes") and, when the queue has a callback key, how to ask for a
// callback. Hold music stops for the announcement and then resumes.
type AnnounceConfig struct {
	// Every is the time between the end of one announcement and the
	// next, the first one coming Every after the caller starts waiting.
	// 0: no announcements; otherwise at least MinAnnounceEvery.
	Every time.Duration `yaml:"every"`
	// Position says the caller's place (default true).
	Position *bool `yaml:"position"`
	// Wait says the estimated wait (default true).
	Wait *bool `yaml:"wait"`
}

// MinAnnounceEvery is the shortest time allowed between announcements.
const MinAnnounceEvery = 5 * time.Second

// SaysPosition reports whether the announcement says the caller's place.
func (a AnnounceConfig) SaysPosition() bool { return a.Position == nil || *a.Position }

// SaysWait reports whether the announcement says the estimated wait.
func (a AnnounceConfig) SaysWait() bool { return a.Wait == nil || *a.Wait }

// CallbackKeyNone disables a queue's callback key.
const CallbackKeyNone = "none"

// DefaultCallbackKey is the callback key of a queue that names none.
const DefaultCallbackKey = "9"

// IVRConfig is what callers are asked by keypad before they queue. Only
// calls the rules send to an open queue are asked; the answers go into a
// second routing decision (rules match styles and reasons).
type IVRConfig struct {
	// StyleQuestion asks callers whose service style is unknown "press 1
	// to be guided step by step, press 2 to have us do it for you"
	// (prompt style.wav); the answer is remembered for their next calls
	// (directory.state_file).
	StyleQuestion bool `yaml:"style_question"`
	// ReasonMenu asks every caller why they call.
	ReasonMenu ReasonMenuConfig `yaml:"reason_menu"`
	// Timeout is how long a key is waited for after a prompt; a question
	// is asked once more after no or an invalid key. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
}

// ReasonMenuConfig is the keypad menu of call reasons.
type ReasonMenuConfig struct {
	// Prompt names the menu's prompt, <lang>/<prompt>.wav (default
	// "reason").
	Prompt string `yaml:"prompt"`
	// Options maps a key (one digit) to a reason, e.g. "2": complaint.
	// Empty: no menu.
	Options map[string]string `yaml:"options"`
}

// On reports whether the reason menu is configured.
func (m ReasonMenuConfig) On() bool { return len(m.Options) > 0 }

// Reasons returns the configured reasons, sorted, without duplicates.
func (m ReasonMenuConfig) Reasons() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range m.Options {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

// QueueByName returns the configuration of the queue named name.
func (c *Config) QueueByName(name string) (QueueDef, bool) {
	for _, q := range c.current().Queues {
		if q.Name == name {
			return q, true
		}
	}
	return QueueDef{}, false
}

// PreferredConfig is the preferred-agent step.
type PreferredConfig struct {
	// Segments whose callers get their last agent first. Default: loyal, at_risk.
	Segments []string `yaml:"segments"`
	// Timeout is how long only the preferred agent may take the call.
	// Default 10s; negative disables the step.
	Timeout time.Duration `yaml:"timeout"`
}

// EscalationStep changes who may take a call once it waited After.
type EscalationStep struct {
	After time.Duration `yaml:"after"`
	// RelaxSkills lowers every required skill level by this much.
	RelaxSkills int `yaml:"relax_skills"`
	// DropSkills removes all skill requirements.
	DropSkills bool `yaml:"drop_skills"`
	// Widen lets agents of these queues take the call too.
	Widen []string `yaml:"widen"`
}

// Actions other than queueing a call.
const (
	ActionQueue     = "queue"     // wait in a queue for an agent
	ActionMessage   = "message"   // play a message and hang up
	ActionVoicemail = "voicemail" // record a message for the team
	ActionCallback  = "callback"  // take a callback request
)

// ActionConfig is an after-hours action.
type ActionConfig struct {
	// Type is message, voicemail, callback or queue (an on-call queue).
	Type string `yaml:"type"`
	// Message names the prompt played (default "closed").
	Message string `yaml:"message"`
	// Queue is the on-call queue (type queue) or the queue a voicemail or
	// callback belongs to.
	Queue string `yaml:"queue"`
}

// RuleConfig is one routing rule. Every non-empty condition must hold;
// a rule without conditions matches every call.
type RuleConfig struct {
	Name string `yaml:"name"`
	// Segments, Styles and Reasons match the customer's segment, service
	// style and the call's reason.
	Segments []string `yaml:"segments"`
	Styles   []string `yaml:"styles"`
	Reasons  []string `yaml:"reasons"`
	// Numbers are dialled hotline numbers.
	Numbers []string `yaml:"numbers"`
	// CallerPrefixes match the start of the caller's number (normalised).
	CallerPrefixes []string `yaml:"caller_prefixes"`
	// Schedule is consulted by When and Bands; default: the queue's.
	Schedule string `yaml:"schedule"`
	// When is open or closed (empty: either).
	When string `yaml:"when"`
	// Bands are time bands of the schedule.
	Bands []string `yaml:"bands"`

	// Queue, Priority (higher first) and Skills (name: minimum level 1-5)
	// say where a matching call waits.
	Queue    string         `yaml:"queue"`
	Priority int            `yaml:"priority"`
	Skills   map[string]int `yaml:"skills"`
	// Action, when set, is done instead of queueing (message, voicemail,
	// callback).
	Action ActionConfig `yaml:"action"`
}

func (r *RuleConfig) catchAll() bool {
	return len(r.Segments) == 0 && len(r.Styles) == 0 && len(r.Reasons) == 0 && len(r.Numbers) == 0 &&
		len(r.CallerPrefixes) == 0 && r.When == "" && len(r.Bands) == 0
}

// CallbackConfig says how callbacks are kept and scheduled.
type CallbackConfig struct {
	// File keeps pending callbacks across restarts (JSON). Empty: memory only.
	File string `yaml:"file"`
	// Queue places follow-up callbacks; default: the first queue.
	Queue string `yaml:"queue"`
	// Schedule callbacks are placed within; default: the queue's.
	Schedule string `yaml:"schedule"`
	// FollowUpDelay after a complaint or a low rating; 0 means the next
	// business day.
	FollowUpDelay time.Duration `yaml:"follow_up_delay"`
	// LowCSAT is the rating at or below which a follow-up is scheduled
	// (default 2; negative disables).
	LowCSAT int `yaml:"low_csat"`
	// QuietHours are customers' rest hours, "HH:MM-HH:MM" (may wrap
	// midnight), in the schedule's zone. Default 21:00-08:00.
	QuietHours []string `yaml:"quiet_hours"`
}

// setEngineDefaults fills in the engine sections.
func (c *Config) setEngineDefaults() {
	c.Directory.SetDefaults()
	if c.Queue.AutoPauseAfter == 0 {
		c.Queue.AutoPauseAfter = 3
	}
	if c.Queue.RejoinWindow == 0 {
		c.Queue.RejoinWindow = 5 * time.Minute
	}
	if c.Queue.CallbackKey == "" {
		c.Queue.CallbackKey = DefaultCallbackKey
	}
	if c.IVR.Timeout == 0 {
		c.IVR.Timeout = 5 * time.Second
	}
	if c.IVR.ReasonMenu.Prompt == "" && c.IVR.ReasonMenu.On() {
		c.IVR.ReasonMenu.Prompt = "reason"
	}
	if len(c.Queues) == 0 {
		c.Queues = []QueueDef{{Name: DefaultQueueName}}
	}
	for i := range c.Queues {
		q := &c.Queues[i]
		if q.Strategy == "" {
			q.Strategy = StrategyLongestIdle
		}
		if q.RingTimeout == 0 {
			q.RingTimeout = c.Queue.RingTimeout
		}
		if q.MaxWait == 0 {
			q.MaxWait = c.Queue.MaxWait
		}
		if q.AfterHours.Type == "" {
			q.AfterHours.Type = ActionMessage
		}
		if q.AfterHours.Message == "" && q.AfterHours.Type != ActionQueue {
			q.AfterHours.Message = "closed"
		}
		if q.WhenEmpty.Join == "" {
			q.WhenEmpty.Join = EmptyJoin
		}
		if q.WhenEmpty.Leave == "" {
			q.WhenEmpty.Leave = EmptyStay
		}
		if q.WhenEmpty.Message == "" {
			q.WhenEmpty.Message = "closed"
		}
		if q.PreferredAgent.Segments == nil {
			q.PreferredAgent.Segments = []string{directory.SegmentLoyal, directory.SegmentAtRisk}
		}
		if q.PreferredAgent.Timeout == 0 {
			q.PreferredAgent.Timeout = 10 * time.Second
		}
		if q.Announce == nil {
			a := c.Queue.Announce
			q.Announce = &a
		}
		if q.CallbackKey == "" {
			q.CallbackKey = c.Queue.CallbackKey
		}
	}
	if len(c.Rules) == 0 {
		c.Rules = []RuleConfig{{Name: "default", Queue: c.Queues[0].Name}}
	}
	for i := range c.Rules {
		if a := &c.Rules[i].Action; a.Type != "" && a.Message == "" && a.Type != ActionQueue {
			a.Message = "closed"
		}
	}
	cb := &c.Callbacks
	if cb.Queue == "" {
		cb.Queue = c.Queues[0].Name
	}
	if cb.LowCSAT == 0 {
		cb.LowCSAT = 2
	}
	if cb.QuietHours == nil {
		cb.QuietHours = []string{"21:00-08:00"}
	}
}

// validateEngine reports problems in the engine sections.
func (c *Config) validateEngine() error {
	var errs []error
	add := func(e error) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	add(cfg.Prefix("directory", c.Directory.Validate()))

	// Agents' skills and queues.
	queues := map[string]int{}
	for i, q := range c.Queues {
		if j, dup := queues[q.Name]; dup {
			add(cfg.Errorf(fmt.Sprintf("queues[%d].name", i), "%q is already used by queues[%d]", q.Name, j))
		}
		queues[q.Name] = i
	}
	for i, a := range c.Agents {
		p := fmt.Sprintf("agents[%d]", i)
		for _, name := range slices.Sorted(maps.Keys(a.Skills)) {
			if lv := a.Skills[name]; lv < 1 || lv > 5 {
				add(cfg.Errorf(p+".skills."+name, "level must be 1-5, got %d", lv))
			}
		}
		for j, q := range a.Queues {
			if _, ok := queues[q]; !ok {
				add(cfg.Errorf(fmt.Sprintf("%s.queues[%d]", p, j), "unknown queue %q", q))
			}
		}
	}

	// Schedules.
	schedules := map[string]*schedule.Schedule{}
	for i := range c.Schedules {
		s := &c.Schedules[i]
		p := fmt.Sprintf("schedules[%d]", i)
		if _, dup := schedules[s.Name]; dup && s.Name != "" {
			add(cfg.Errorf(p+".name", "%q is already used by another schedule", s.Name))
		}
		sc, err := schedule.Compile(*s)
		if err != nil {
			add(cfg.Prefix(p, err))
			continue
		}
		schedules[s.Name] = sc
	}
	checkSchedule := func(field, name string) {
		if name == "" {
			return
		}
		if _, ok := schedules[name]; !ok {
			if !scheduleNamed(c.Schedules, name) {
				add(cfg.Errorf(field, "unknown schedule %q", name))
			}
		}
	}
	checkQueue := func(field, name string, required bool) {
		if name == "" {
			if required {
				add(cfg.Errorf(field, "must name a queue"))
			}
			return
		}
		if _, ok := queues[name]; !ok {
			add(cfg.Errorf(field, "unknown queue %q", name))
		}
	}
	checkAction := func(p string, a ActionConfig) {
		switch a.Type {
		case ActionMessage, ActionVoicemail, ActionCallback:
			checkQueue(p+".queue", a.Queue, false)
		case ActionQueue:
			checkQueue(p+".queue", a.Queue, true)
		default:
			add(cfg.Errorf(p+".type", "%q is not one of message, voicemail, callback, queue", a.Type))
		}
	}

	// Queues.
	for i, q := range c.Queues {
		p := fmt.Sprintf("queues[%d]", i)
		if q.Name == "" {
			add(cfg.Errorf(p+".name", "must not be empty"))
		}
		if !slices.Contains(Strategies(), q.Strategy) {
			add(cfg.Errorf(p+".strategy", "%q is not one of %s", q.Strategy, strings.Join(Strategies(), ", ")))
		}
		checkSchedule(p+".schedule", q.Schedule)
		checkAction(p+".after_hours", q.AfterHours)
		if w := q.WhenEmpty.Join; w != EmptyJoin && w != EmptyRefuse && w != EmptyAfterHours {
			add(cfg.Errorf(p+".when_empty.join", "%q is not one of join, refuse, after_hours", w))
		}
		if w := q.WhenEmpty.Leave; w != EmptyStay && w != EmptyRefuse && w != EmptyAfterHours {
			add(cfg.Errorf(p+".when_empty.leave", "%q is not one of stay, refuse, after_hours", w))
		}
		if q.WrapUp < 0 {
			add(cfg.Errorf(p+".wrap_up", "must not be negative"))
		}
		if q.RingTimeout < time.Second {
			add(cfg.Errorf(p+".ring_timeout", "must be at least 1s, got %s", q.RingTimeout))
		}
		if q.MaxWait < time.Second {
			add(cfg.Errorf(p+".max_wait", "must be at least 1s, got %s", q.MaxWait))
		}
		if q.MaxLength < 0 {
			add(cfg.Errorf(p+".max_length", "must not be negative"))
		}
		if q.Overflow == q.Name && q.Name != "" {
			add(cfg.Errorf(p+".overflow", "a queue cannot overflow into itself"))
		} else {
			checkQueue(p+".overflow", q.Overflow, false)
		}
		if q.CallbackKey != "" && !validCallbackKey(q.CallbackKey) {
			add(cfg.Errorf(p+".callback_key", "%q is not a key (0-9, * or #) or %q", q.CallbackKey, CallbackKeyNone))
		}
		if q.Announce != nil {
			add(cfg.Prefix(p+".announce", q.Announce.validate(q.CallbackKey)))
		}
		var last time.Duration
		for j, st := range q.Escalation {
			sp := fmt.Sprintf("%s.escalation[%d]", p, j)
			if st.After <= 0 {
				add(cfg.Errorf(sp+".after", "must be positive"))
			} else if st.After < last {
				add(cfg.Errorf(sp+".after", "steps must be in order: %s is before the previous step's %s", st.After, last))
			}
			last = st.After
			if st.RelaxSkills < 0 || st.RelaxSkills > 4 {
				add(cfg.Errorf(sp+".relax_skills", "must be 0-4, got %d", st.RelaxSkills))
			}
			if st.RelaxSkills == 0 && !st.DropSkills && len(st.Widen) == 0 {
				add(cfg.Errorf(sp, "does nothing: set relax_skills, drop_skills or widen"))
			}
			for k, w := range st.Widen {
				checkQueue(fmt.Sprintf("%s.widen[%d]", sp, k), w, true)
			}
		}
	}
	// Overflow cycles are allowed only if they end: detect loops.
	for i, q := range c.Queues {
		if q.Overflow == q.Name {
			continue // reported above
		}
		seen := map[string]bool{q.Name: true}
		for n := q.Overflow; n != ""; {
			if seen[n] {
				add(cfg.Errorf(fmt.Sprintf("queues[%d].overflow", i), "overflow loops back to %q", n))
				break
			}
			seen[n] = true
			j, ok := queues[n]
			if !ok {
				break
			}
			n = c.Queues[j].Overflow
		}
	}

	// Rules.
	if len(c.Rules) == 0 {
		add(cfg.Errorf("rules", "at least one rule is required"))
	}
	catchAll := -1
	for i, r := range c.Rules {
		p := fmt.Sprintf("rules[%d]", i)
		if catchAll >= 0 {
			add(cfg.Errorf(p, "unreachable: rules[%d] before it matches every call", catchAll))
		}
		if r.catchAll() && catchAll < 0 {
			catchAll = i
		}
		if r.Action.Type != "" {
			if r.Action.Type == ActionQueue {
				add(cfg.Errorf(p+".action.type", "use the rule's queue field to queue a call"))
			} else {
				checkAction(p+".action", r.Action)
			}
		} else {
			checkQueue(p+".queue", r.Queue, true)
		}
		for _, name := range slices.Sorted(maps.Keys(r.Skills)) {
			if lv := r.Skills[name]; lv < 1 || lv > 5 {
				add(cfg.Errorf(p+".skills."+name, "level must be 1-5, got %d", lv))
			}
		}
		for j, s := range r.Styles {
			if s != directory.StyleProactive && s != directory.StyleReactive && s != directory.StyleUnknown {
				add(cfg.Errorf(fmt.Sprintf("%s.styles[%d]", p, j), "%q is not one of proactive, reactive, unknown", s))
			}
		}
		if r.When != "" && r.When != "open" && r.When != "closed" {
			add(cfg.Errorf(p+".when", "%q is not one of open, closed", r.When))
		}
		checkSchedule(p+".schedule", r.Schedule)
		sched := r.Schedule
		if sched == "" {
			if j, ok := queues[r.Queue]; ok {
				sched = c.Queues[j].Schedule
			}
		}
		if (r.When != "" || len(r.Bands) > 0) && sched == "" {
			add(cfg.Errorf(p+".schedule", "when and bands need a schedule (the rule's or its queue's)"))
		}
		if sc, ok := schedules[sched]; ok {
			for j, b := range r.Bands {
				if !sc.HasBand(b) {
					add(cfg.Errorf(fmt.Sprintf("%s.bands[%d]", p, j), "schedule %q has no band %q", sched, b))
				}
			}
		}
	}
	if catchAll < 0 && len(c.Rules) > 0 {
		add(cfg.Errorf("rules", "no default rule: the last rule must have no conditions so that every call is routed"))
	}

	// Announcements, keypad.
	if c.Queue.CallbackKey != "" && !validCallbackKey(c.Queue.CallbackKey) {
		add(cfg.Errorf("queue.callback_key", "%q is not a key (0-9, * or #) or %q", c.Queue.CallbackKey, CallbackKeyNone))
	}
	add(cfg.Prefix("queue.announce", c.Queue.Announce.validate(c.Queue.CallbackKey)))
	add(cfg.Prefix("ivr", c.IVR.validate()))

	// Callbacks.
	cb := c.Callbacks
	checkQueue("callbacks.queue", cb.Queue, true)
	checkSchedule("callbacks.schedule", cb.Schedule)
	if cb.FollowUpDelay < 0 {
		add(cfg.Errorf("callbacks.follow_up_delay", "must not be negative"))
	}
	for i, h := range cb.QuietHours {
		if _, err := schedule.ParseRange(h, true); err != nil {
			add(cfg.Errorf(fmt.Sprintf("callbacks.quiet_hours[%d]", i), "%v", err))
		}
	}
	return errors.Join(errs...)
}

func scheduleNamed(list []schedule.Config, name string) bool {
	for _, s := range list {
		if s.Name == name {
			return true
		}
	}
	return false
}

func validCallbackKey(k string) bool {
	return k == CallbackKeyNone || (len(k) == 1 && strings.Contains("0123456789*#", k))
}

// validate checks an announcement; callbackKey is its queue's.
func (a *AnnounceConfig) validate(callbackKey string) error {
	switch {
	case a.Every < 0:
		return cfg.Errorf("every", "must not be negative (0: no announcements)")
	case a.Every > 0 && a.Every < MinAnnounceEvery:
		return cfg.Errorf("every", "must be at least %s (0: no announcements), got %s", MinAnnounceEvery, a.Every)
	case a.Every > 0 && !a.SaysPosition() && !a.SaysWait() && (callbackKey == "" || callbackKey == CallbackKeyNone):
		return cfg.Errorf("", "announces nothing: position and wait are off and the queue has no callback key")
	}
	return nil
}

// reasonRE is what a reason may look like: it becomes a metric label
// value and a rule condition.
var reasonRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,40}$`)

// promptRE is a prompt name: a file name without directory or extension.
var promptRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (c *IVRConfig) validate() error {
	var errs []error
	if c.Timeout < time.Second || c.Timeout > time.Minute {
		errs = append(errs, cfg.Errorf("timeout", "must be 1s-1m, got %s", c.Timeout))
	}
	m := c.ReasonMenu
	if !m.On() && m.Prompt != "" {
		errs = append(errs, cfg.Errorf("reason_menu.options", "a reason menu needs at least one option"))
	}
	if m.Prompt != "" && !promptRE.MatchString(m.Prompt) {
		errs = append(errs, cfg.Errorf("reason_menu.prompt", "%q is not a prompt name (letters, digits, _ and -; the file is <lang>/<name>.wav)", m.Prompt))
	}
	keys := make([]string, 0, len(m.Options))
	for k := range m.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := "reason_menu.options." + k
		if len(k) != 1 || k[0] < '0' || k[0] > '9' {
			errs = append(errs, cfg.Errorf(f, "the key %q is not a single digit 0-9", k))
		}
		switch r := m.Options[k]; {
		case strings.TrimSpace(r) == "":
			errs = append(errs, cfg.Errorf(f, "the reason must not be empty"))
		case !reasonRE.MatchString(r):
			errs = append(errs, cfg.Errorf(f, "the reason %q may have only letters, digits, _ . - (at most 40)", r))
		}
	}
	return errors.Join(errs...)
}
