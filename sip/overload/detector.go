// Package overload notices that Hotline is saturated before its callers
// do, from signals it measures cheaply (how late runnable goroutines get
// a core, how full its SIP sockets' receive buffers are, its CPU, packets
// its recorders had to drop, an operator's pressure file), so that new
// calls are refused at once (503 with Retry-After) while the calls in
// progress stay good. The Detector is pure (samples and a clock in, a
// decision out); the Monitor samples the live signals into it.
package overload

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Reason names the signal that made Hotline shed: the reason label of
// hotline_calls_refused_total (a fixed, small set).
type Reason string

// Reasons.
const (
	ReasonSchedulingLag Reason = "scheduling_lag"
	ReasonSocketBacklog Reason = "socket_backlog"
	ReasonCPU           Reason = "cpu"
	ReasonRecorderDrops Reason = "recorder_drops"
	ReasonPressure      Reason = "pressure"
	// ReasonSetups: MaxSetups new calls were being set up already.
	ReasonSetups Reason = "setups"
	// ReasonSocketDelay: the INVITE waited SocketDelay or longer in the
	// SIP socket before Hotline read it (judged per INVITE, at the door).
	ReasonSocketDelay Reason = "socket_delay"
	// ReasonMachineCPU: the machine's CPUs were MachineCPU busy, much of
	// it Hotline's own work.
	ReasonMachineCPU Reason = "machine_cpu"
	// ReasonMaxCPS: MaxCPS new calls were admitted in the last second.
	ReasonMaxCPS Reason = "max_cps"
	// ReasonRTPDelay: the RTP packets Hotline read had all waited
	// RTPDelay or longer in its legs' sockets (the media relay behind).
	ReasonRTPDelay Reason = "rtp_delay"
	// ReasonRecordsHeld: RecordsHeld call records or more are kept only
	// in memory (neither the records backend nor its spool took them).
	ReasonRecordsHeld Reason = "records_held"
	// ReasonSpoolFree: the recording spool's file system has less than
	// SpoolFreeMB free.
	ReasonSpoolFree Reason = "spool_free"
)

// Reasons returns every Reason, in a fixed order.
func Reasons() []Reason {
	return []Reason{ReasonSchedulingLag, ReasonSocketBacklog, ReasonCPU, ReasonRecorderDrops, ReasonPressure, ReasonSetups, ReasonSocketDelay, ReasonMachineCPU, ReasonMaxCPS, ReasonRTPDelay, ReasonRecordsHeld, ReasonSpoolFree}
}

// refusesAll reports whether a signal refuses every new call while it
// is over, with no learned rate: the operator's pressure file, and the
// storage signals (a call whose record or recording cannot be kept is
// not admitted, whatever the rate).
func refusesAll(why Reason) bool {
	return why == ReasonPressure || why == ReasonRecordsHeld || why == ReasonSpoolFree
}

// Reading is one sample of the signals.
type Reading struct {
	// SchedulingLag is the standing scheduling lag: how late the probe
	// timer fired at least since the last sample (or how overdue it is
	// when it did not fire at all).
	SchedulingLag time.Duration
	// PeakLag is how late it fired at worst (logged, not judged).
	PeakLag time.Duration
	// SocketBacklog is the fullest SIP socket's receive buffer (0-1).
	SocketBacklog float64
	// CPU is the process's CPU time over the sample's wall time times the
	// usable cores (0-1).
	CPU float64
	// RecorderDrops is how many packets recorders dropped since the last
	// sample.
	RecorderDrops uint64
	// Pressure is the operator's pressure file's number (1: shed).
	Pressure float64
	// MachineCPU is the machine's CPUs' busy share (0-1; 0: unknown).
	MachineCPU float64
	// HotlineShare is Hotline's own CPU time over the machine's busy CPU
	// time in the sample (0-1).
	HotlineShare float64
	// RTPDelay is the least time the RTP packets read in the sample had
	// waited in the legs' sockets (0: none read, or not measured).
	RTPDelay time.Duration
	// DelayRefused and SetupsRefused are how many new calls the doors
	// refused for a queue since the last sample: for socket_delay, for
	// max_setups (NoteQueueRefused).
	DelayRefused, SetupsRefused int64
	// RecordsHeld is how many call records are kept only in memory (the
	// records store's backend and spool both refused them).
	RecordsHeld int
	// SpoolFree is the free space on the recording spool's file system,
	// in bytes, when SpoolKnown (not measured otherwise).
	SpoolFree  uint64
	SpoolKnown bool
}

// State is the detector's decision after a sample.
type State struct {
	// Shedding: new calls are refused.
	Shedding bool
	// Reason is the signal furthest over its threshold when shedding
	// started (or since, while shedding).
	Reason Reason
	// Saturation is the highest signal as a share of its threshold: 1 at
	// the threshold.
	Saturation float64
	// Since is when shedding started or the share refused last rose.
	Since time.Time
	// Learned is the learned rate in force (Config.Learn; calls a
	// second, 0: none).
	Learned float64
	// Remembered: the overload is over and the learned rate stays in
	// force from memory (Config.LearnMemory) until it refuses a call
	// again or the memory runs out.
	Remembered bool
	// Share is the share of new calls refused while shedding: Cut at
	// first, rising with each cut while overloaded, falling over the
	// release ramp; 0 when not shedding.
	Share float64
}

// Detector turns samples into a shedding decision with hysteresis:
// shedding starts after Confirm samples in a row with a signal at or over
// its threshold, refusing Cut of the new calls; while a signal stays
// over, each reaction time (Confirm samples) cuts the calls still
// admitted by Cut again (multiplicative decrease), so that only the
// excess is refused. Once Hold has passed since the last cut and every
// signal is under Release times its threshold, the share refused falls
// a step each sample (ReleaseRamp from all to none: additive increase of
// the admitted share), and shedding stops at none. Cut 1 refuses every
// new call while shedding; the pressure file always does.
type Detector struct {
	cfg Config

	mu    sync.Mutex
	over  int // samples in a row over a threshold
	state State

	shedding atomic.Bool
	share    atomic.Uint32 // State.Share in units of 1/shareScale
	reason   atomic.Value  // Reason
	setups   atomic.Int64  // new calls admitted and still being set up
	// New calls refused for a queue so far (NoteQueueRefused): for
	// socket_delay, for max_setups.
	delayRefused, setupsRefused atomic.Int64
	// onSetups, when set (OnSetups), is told the calls in setup at each
	// admission and each setup's end.
	onSetups atomic.Pointer[func(int64)]

	rateMu  sync.Mutex
	rate    TokenBucket      // MaxCPS (SetMaxCPS replaces it)
	bounded atomic.Bool      // rate has a bound
	now     func() time.Time // Admit's clock (tests)

	// The learned rate (Config.Learn): learned is its bucket (rateMu),
	// learning reports it is in force, learnWhy is the reason its
	// refusals carry. admitted counts the new calls TakeLearned let
	// through, learnRefused those it refused, since the last sample.
	learned      TokenBucket
	learning     atomic.Bool
	learnWhy     atomic.Value // Reason
	admitted     atomic.Int64
	learnRefused atomic.Int64
	// Update's own (mu): the calls admitted in the last samples (a
	// second's worth), when the learned rate was last cut, and how long
	// it has refused nothing.
	admits    []int64
	admitsN   int
	learnCut  time.Time
	learnIdle time.Duration
	learnTrip float64 // the rate admitted when a signal last tripped
	// learnHeld: how long the learned rate has stood at learnBelow of
	// learnTrip, refusing calls with every signal quiet, since a trip
	// under it.
	learnHeld time.Duration
	// learnEased: every signal was under its threshold in a sample since
	// the learned rate was last cut (or set).
	learnEased bool
	// learnConfirmed: a signal tripped while the learned rate held new
	// calls, and cut it (what LearnMemory keeps; remembered).
	learnConfirmed bool
	// The rate Hotline last carried with no signal over its threshold for
	// learnCleanFor (known, taken at knownAt): the least of the
	// one-second admitted rates of the current clean run's last samples
	// (recent; recentN samples so far, 0 out of a clean run).
	recent  []float64
	recentN int
	known   float64
	knownAt time.Time
}

// NewDetector returns a detector for c (defaults applied).
func NewDetector(c Config) *Detector {
	c.SetDefaults()
	d := &Detector{cfg: c, now: time.Now}
	d.SetMaxCPS(c.MaxCPS)
	d.reason.Store(Reason(""))
	d.learnWhy.Store(Reason(""))
	d.admits = make([]int64, max(int(time.Second/c.Interval), 1))
	d.recent = make([]float64, max(int(learnCleanFor/c.Interval), 1))
	return d
}

// Config returns the detector's configuration as it started (SetMaxCPS
// does not change it; MaxCPS returns the bound in force).
func (d *Detector) Config() Config { return d.cfg }

// Shedding reports whether new calls are to be refused now, and why. It
// is one atomic load: the admission point calls it for every new INVITE.
func (d *Detector) Shedding() (bool, Reason) {
	if d == nil || !d.shedding.Load() {
		return false, ""
	}
	return true, d.reason.Load().(Reason)
}

// shareScale is State.Share 1 in the detector's atomic share.
const shareScale = 1 << 31

// refuseNew decides whether this new call is refused by shedding: all
// of them at share 1, a random share of them during the release ramp.
func (d *Detector) refuseNew() (bool, Reason) {
	on, why := d.Shedding()
	if !on {
		return false, ""
	}
	if sh := d.share.Load(); sh < shareScale && rand.Uint32()>>1 >= sh {
		return false, ""
	}
	return true, why
}

// Refusing reports whether a new call would be refused now, and why:
// while shedding, or while MaxSetups calls are being set up. It admits
// nothing (Admit does, and counts the call): the door in front of the
// SIP socket asks it for every new INVITE, so it is two atomic loads.
//
// queue tells a refusal for the calls in setup (a queue: the door then
// counts it, NoteQueueRefused) from one by shedding's share.
func (d *Detector) Refusing() (refuse bool, why Reason, queue bool) {
	if d == nil {
		return false, "", false
	}
	if on, why := d.refuseNew(); on {
		return true, why, false
	}
	on, why := d.RefusingSetups()
	return on, why, on
}

// NoteQueueRefused counts a new call a door refused for a queue, not by
// shedding nor a rate: Hotline behind its SIP socket (ReasonSocketDelay)
// or MaxSetups calls in setup (ReasonSetups; Admit counts its own).
// Sample after sample such refusals are a signal (QueueRefused).
func (d *Detector) NoteQueueRefused(why Reason) {
	if d == nil {
		return
	}
	switch why {
	case ReasonSocketDelay:
		d.delayRefused.Add(1)
	case ReasonSetups:
		d.setupsRefused.Add(1)
	}
}

// QueueRefused returns how many new calls were refused for a queue so
// far: for socket_delay, for max_setups (NoteQueueRefused).
func (d *Detector) QueueRefused() (delay, setups int64) {
	if d == nil {
		return 0, 0
	}
	return d.delayRefused.Load(), d.setupsRefused.Load()
}

// RefusingSetups is Refusing without shedding: whether MaxSetups calls
// are being set up now. The door process judged a new INVITE by
// shedding already (it reads Hotline's decisions); Hotline's door asks
// only this of it, so that a share is not refused twice.
func (d *Detector) RefusingSetups() (bool, Reason) {
	if d == nil {
		return false, ""
	}
	if limit := d.cfg.MaxSetups; limit > 0 && d.setups.Load() >= int64(limit) {
		return true, ReasonSetups
	}
	return false, ""
}

// Admit decides on a new call at its INVITE: refused (why) while
// MaxSetups calls are being set up already, or, with charge (no door
// judged the call: it drew no shedding share and took no MaxCPS
// token), while shedding and over MaxCPS; admitted otherwise, and then
// done must be called (any number of times) once the call's setup is
// over: an agent is rung, the caller answered, or the call ended. A call
// a door judged is not drawn again: at share p, p of the calls are
// refused, not 1-(1-p)². A nil detector admits every call.
func (d *Detector) Admit(charge bool) (done func(), why Reason, ok bool) {
	if d == nil {
		return func() {}, "", true
	}
	if !charge {
		// The door drew its share (Refusing); only a refusal of every
		// call (share 1: a new shedding, the pressure file) still
		// holds here.
		if on, why := d.Shedding(); on && d.share.Load() >= shareScale {
			return nil, why, false
		}
	} else if on, why := d.refuseNew(); on {
		return nil, why, false
	}
	n := d.setups.Add(1)
	if limit := d.cfg.MaxSetups; limit > 0 && n > int64(limit) {
		d.setups.Add(-1)
		d.setupsRefused.Add(1)
		return nil, ReasonSetups, false
	}
	if charge && !d.TakeCall(d.now()) {
		d.setups.Add(-1)
		return nil, ReasonMaxCPS, false
	}
	if charge {
		if ok, why := d.TakeLearned(d.now()); !ok {
			d.setups.Add(-1)
			return nil, why, false
		}
	}
	d.noteSetups(n)
	return sync.OnceFunc(func() { d.noteSetups(d.setups.Add(-1)) }), "", true
}

// OnSetups sets f to be told the calls in setup at each admission and
// each setup's end (a door outside Hotline's process refuses on them).
// Two changes at once may tell f in the other order; the next tells it
// again.
func (d *Detector) OnSetups(f func(n int64)) {
	if d != nil {
		d.onSetups.Store(&f)
	}
}

func (d *Detector) noteSetups(n int64) {
	if f := d.onSetups.Load(); f != nil {
		(*f)(n)
	}
}

// Setups returns how many admitted calls are being set up now.
func (d *Detector) Setups() int64 {
	if d == nil {
		return 0
	}
	return d.setups.Load()
}

// SetupShare returns the calls being set up now as a share of MaxSetups
// (1: at the bound; 0 when it is off).
func (d *Detector) SetupShare() float64 {
	if d == nil || d.cfg.MaxSetups <= 0 {
		return 0
	}
	return float64(d.setups.Load()) / float64(d.cfg.MaxSetups)
}

// State returns the last decision.
func (d *Detector) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// saturation returns the highest signal as a share of its threshold and
// which signal it is; a signal that refuses every call (refusesAll) at
// or over its threshold is named before any other. A threshold of 0 or
// less is off.
func (d *Detector) saturation(r Reading) (float64, Reason) {
	best, why := 0.0, Reason("")
	all, allWhy := 0.0, Reason("")
	consider := func(v, limit float64, reason Reason) {
		if limit <= 0 {
			return
		}
		x := v / limit
		if x > best {
			best, why = x, reason
		}
		if refusesAll(reason) && x > all {
			all, allWhy = x, reason
		}
	}
	// Waiting for a core, or a socket filling, while Hotline itself used
	// little CPU is other programs' load, not Hotline's saturation.
	if d.cfg.MinCPU <= 0 || r.CPU >= d.cfg.MinCPU {
		consider(float64(r.SchedulingLag), float64(d.cfg.SchedulingLag), ReasonSchedulingLag)
		consider(r.SocketBacklog, d.cfg.SocketBacklog, ReasonSocketBacklog)
	}
	consider(r.CPU, d.cfg.CPU, ReasonCPU)
	// The machine busy, much of it with Hotline's own work.
	if r.HotlineShare >= d.cfg.MachineShare {
		consider(r.MachineCPU, d.cfg.MachineCPU, ReasonMachineCPU)
	}
	// The media relay behind its sockets: the admitted calls' audio is
	// late, and what is queued when a call ends is lost, whoever holds
	// the cores (MinCPU does not apply, as for socket_delay).
	consider(float64(r.RTPDelay), float64(d.cfg.RTPDelay), ReasonRTPDelay)
	consider(float64(r.RecorderDrops), float64(d.cfg.RecorderDrops), ReasonRecorderDrops)
	// New calls refused for a queue, sample after sample: those admitted
	// meanwhile wait in it (whoever holds the cores, as socket_delay).
	consider(float64(r.DelayRefused), float64(d.cfg.QueueRefused), ReasonSocketDelay)
	consider(float64(r.SetupsRefused), float64(d.cfg.QueueRefused), ReasonSetups)
	consider(r.Pressure, 1, ReasonPressure)
	// Storage: a call admitted now could not be kept whole.
	consider(float64(r.RecordsHeld), float64(d.cfg.RecordsHeld), ReasonRecordsHeld)
	if r.SpoolKnown && d.cfg.SpoolFreeMB > 0 {
		// At the floor: 1; the floor over what is free, so that Release
		// (a half) needs twice the floor free.
		consider(float64(d.cfg.SpoolFreeMB)*(1<<20)/float64(max(r.SpoolFree, 1)), 1, ReasonSpoolFree)
	}
	if all >= 1 {
		return best, allWhy
	}
	return best, why
}

// cut is the share of the admitted calls that a cut refuses: Cut, or
// every call for the operator's pressure file and the storage signals
// (refusesAll).
func (d *Detector) cut(why Reason) float64 {
	if refusesAll(why) {
		return 1
	}
	return d.cfg.Cut
}

// reaction is the least time between two cuts: the Confirm samples the
// signals need to show what the last cut did.
func (d *Detector) reaction() time.Duration {
	return time.Duration(d.cfg.Confirm) * d.cfg.Interval
}

// Update takes a sample taken at now and returns the decision.
func (d *Detector) Update(now time.Time, r Reading) State {
	sat, why := d.saturation(r)
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &d.state
	st.Saturation = sat
	if sat >= 1 {
		d.over++
	} else {
		d.over = 0
	}
	admitted := d.sampleAdmits()
	d.noteClean(now, sat, admitted)
	learnRefused := d.learnRefused.Swap(0)
	learnedTrip := false
	switch {
	case !st.Shedding && d.over >= d.cfg.Confirm && d.learning.Load() && !d.remembered() && !refusesAll(why):
		// Overloaded again while the learned rate holds new calls:
		// cut the rate, not a share of the calls (learn). A remembered
		// rate has held none since the overload was over: a trip under
		// it is a new overload, at a rate it tells nothing of (a pause,
		// another program's load), and starts as one (below).
		learnedTrip = true
	case !st.Shedding && d.over >= d.cfg.Confirm:
		st.Shedding, st.Reason, st.Since, st.Share = true, why, now, d.cut(why)
		if d.cfg.Learning() && !refusesAll(why) {
			// The rate admitted at a first trip is the offered load of
			// whatever started it (a cold start lets every call in), not
			// what Hotline carries: growth slows from near the rate
			// learned instead, until a later trip tells more.
			learned := max(admitted*(1-d.cut(why)), 1)
			d.learnTrip = learned
			if d.known > 0 && now.Sub(d.knownAt) <= learnKnownFor {
				// Hotline carried a rate with no signal over its
				// threshold until just now: a pause (a collection, the machine
				// stalled) tripped, not the load, and the calls a
				// pause let through in the last second are far below
				// what Hotline carries. Hold to most of that rate.
				learned = max(learned, learnNear*d.known)
				d.learnTrip = max(learned, d.known)
			}
			d.setLearned(now, learned, why)
		}
	case st.Shedding && sat < d.cfg.Release && now.Sub(st.Since) >= d.cfg.Hold:
		// Release: at once, or a step of the ramp each sample.
		step := 1.0
		if d.cfg.ReleaseRamp > 0 {
			step = float64(d.cfg.Interval) / float64(d.cfg.ReleaseRamp)
		}
		if st.Share -= step; st.Share <= 1e-9 {
			st.Shedding, st.Reason, st.Since, st.Share = false, "", time.Time{}, 0
		}
	case st.Shedding && sat >= 1:
		st.Reason = why
		// Still (or again) overloaded: cut the calls admitted, at most
		// once per reaction time, as the signals lag the calls admitted
		// (a queue takes a while to drain).
		if st.Share < 1 && (now.Sub(st.Since) >= d.reaction() || refusesAll(why)) {
			st.Share, st.Since = 1-(1-st.Share)*(1-d.cut(why)), now
			if st.Share > 1-1e-9 {
				st.Share = 1
			}
		}
	}
	d.reason.Store(st.Reason)
	d.share.Store(uint32(st.Share * shareScale))
	d.shedding.Store(st.Shedding)
	if d.learning.Load() {
		d.learn(now, sat, why, admitted, learnRefused, learnedTrip)
	}
	st.Learned, st.Remembered = d.Learned(), d.remembered()
	return *st
}

// sampleAdmits adds the new calls admitted since the last sample to the
// last second's and returns the rate over it (calls a second); d.mu is
// held.
func (d *Detector) sampleAdmits() float64 {
	d.admits[d.admitsN%len(d.admits)] = d.admitted.Swap(0)
	d.admitsN++
	var sum int64
	for _, n := range d.admits {
		sum += n
	}
	return float64(sum) / (float64(min(d.admitsN, len(d.admits))) * d.cfg.Interval.Seconds())
}

// noteClean keeps the rate Hotline carried in the last clean run, a run
// of samples with every signal under its threshold, no share refused
// and no learned rate but a remembered one (d.mu held): once the run has lasted
// learnCleanFor, the least one-second admitted rate of its last
// learnCleanFor. (A signal over Release but under its threshold, such
// as a collection's bump every few seconds, does not end the run.)
func (d *Detector) noteClean(now time.Time, sat, admitted float64) {
	if sat >= 1 || d.state.Shedding || d.learning.Load() && !d.remembered() {
		d.recentN = 0
		return
	}
	d.recent[d.recentN%len(d.recent)] = admitted
	d.recentN++
	if d.recentN < len(d.recent) {
		return
	}
	least := d.recent[0]
	for _, r := range d.recent[1:] {
		least = min(least, r)
	}
	d.known, d.knownAt = least, now
}

// learnCleanFor is how long Hotline must have carried a rate with no
// signal over its threshold for a first trip to learn no less than learnNear of it;
// learnKnownFor is how recent that must be (the signals rise over a
// few samples before they trip).
const (
	learnCleanFor = 5 * time.Second
	learnKnownFor = 2 * time.Second
)

// learnGrowth is how fast the learned rate rises (a share of itself a
// second) while it refuses calls and every signal is under Release:
// slowly, as a call admitted now weighs on the media for the whole call
// and the signals show it late. Within learnNear of the rate admitted
// when a signal last tripped, it rises at learnNearGrowth: there it
// overloaded before, and a rate that overshoots by the seconds the
// signals take to show it overloads again (as TCP CUBIC slows near the
// window of its last loss).
const (
	learnGrowth     = 0.1
	learnNear       = 0.8
	learnNearGrowth = 0.02
)

// learnBelow and learnHoldFor: once a trip under the learned rate has
// shown a rate too much (learnTrip, confirmed), the rate rises no higher
// than learnBelow of it until it has stood there, refusing calls with
// every signal quiet, for learnHoldFor; then it rises at learnNearGrowth
// again, past it, to find whether Hotline now carries more. Rising
// straight on, it met the rate that tripped within a step of a
// sustained overload (a fiftieth a second from four fifths of it) and
// overloaded again: slow answers, and a cut to half (bench/README.md:
// "The learned rate cut once per overload").
const (
	learnBelow   = 0.9
	learnHoldFor = 30 * time.Second
)

// learnIdleFor is how long the learned rate may refuse nothing before
// the overload counts as over: the offered load is under it. It is then
// dropped, or, when a trip under it confirmed it, kept for LearnMemory
// more.
func (d *Detector) learnIdleFor() time.Duration { return 5 * d.cfg.Hold }

// learn moves the learned rate after a sample (d.mu held): cut by Cut
// when overloaded again (trip), once per overload (again once every
// signal has eased and one trips anew, or after Hold still over, and
// never within a reaction time) and from no more than the rate admitted
// (admitted, a second's); raised by learnGrowth
// (learnNearGrowth near the last trip's rate) while it refuses calls,
// every signal is under Release and no share is refused, after a trip
// under it held at learnBelow of that trip's rate for learnHoldFor; dropped once
// it has refused nothing for learnIdleFor, or, confirmed by a trip under
// it, for learnIdleFor and LearnMemory (remembered meanwhile).
func (d *Detector) learn(now time.Time, sat float64, why Reason, admitted float64, refused int64, trip bool) {
	rate := d.Learned()
	if sat < 1 {
		d.learnEased = true
	}
	switch {
	case trip:
		// One cut for one overload: the signals lag the rate, and the
		// queue its overshoot left (the calls admitted past what
		// Hotline carried, their media and their hang-ups) keeps them
		// over for a second or more after the cut. Cut again only
		// once they have eased and tripped anew, or after Hold still
		// over (the cut was not enough). Cut each reaction time, it
		// fell from 360 to 45 calls a second within half a second at
		// 760 offered, and took 20 s to rise back (bench/README.md:
		// "The learned rate cut once per overload").
		if now.Sub(d.learnCut) >= d.reaction() && (d.learnEased || now.Sub(d.learnCut) >= d.cfg.Hold) {
			d.learnTrip = min(rate, admitted)
			d.setLearned(now, max(d.learnTrip*(1-d.cfg.Cut), 1), why)
			d.learnConfirmed = true
		}
		return
	case refused == 0:
		// While a share is refused, the share refuses first: that is
		// not the overload being over.
		if d.state.Shedding {
			d.learnIdle = 0
		} else if d.learnIdle += d.cfg.Interval; d.learnIdle >= d.learnIdleFor() {
			if d.remembered() && d.learnIdle < d.learnIdleFor()+d.cfg.LearnMemory {
				return
			}
			d.setLearned(now, 0, "")
		}
		return
	}
	d.learnIdle = 0
	if sat < d.cfg.Release && !d.state.Shedding && now.Sub(d.learnCut) >= d.reaction() {
		g := learnGrowth
		if rate >= learnNear*d.learnTrip {
			g = learnNearGrowth
		}
		next := rate * (1 + g*d.cfg.Interval.Seconds())
		if below := learnBelow * d.learnTrip; d.learnConfirmed && d.learnHeld < learnHoldFor {
			if rate >= below {
				// Under the rate that tripped: it stands there a while.
				d.learnHeld += d.cfg.Interval
				return
			}
			next = min(next, below)
		}
		d.rateMu.Lock()
		d.learned.SetRate(next)
		d.rateMu.Unlock()
	}
}

// setLearned puts a learned rate in force (0: none, and no trip's rate
// kept either), refusing with why.
func (d *Detector) setLearned(now time.Time, rate float64, why Reason) {
	if rate == 0 {
		d.learnTrip = 0
	}
	d.rateMu.Lock()
	d.learned = NewTokenBucket(rate)
	d.rateMu.Unlock()
	d.learnWhy.Store(why)
	d.learning.Store(rate > 0)
	d.learnCut, d.learnIdle, d.learnHeld = now, 0, 0
	d.learnConfirmed, d.learnEased = false, false
}

// remembered reports whether the learned rate in force is only
// remembered (LearnMemory): confirmed by a trip under it, and refusing
// nothing for learnIdleFor, so the overload is over (d.mu held).
func (d *Detector) remembered() bool {
	return d.learning.Load() && d.learnConfirmed && d.cfg.LearnMemory > 0 && d.learnIdle >= d.learnIdleFor()
}

// Learned returns the learned rate in force (calls a second; 0: none).
func (d *Detector) Learned() float64 {
	r, _ := d.LearnedRate()
	return r
}

// LearnedRate returns the learned rate in force (calls a second; 0:
// none) and the reason of the overload that set it: what a door outside
// Hotline's process (the door process) takes tokens from, reporting back
// through NoteAdmitted and NoteLearnRefused.
func (d *Detector) LearnedRate() (float64, Reason) {
	if d == nil || !d.learning.Load() {
		return 0, ""
	}
	d.rateMu.Lock()
	defer d.rateMu.Unlock()
	return d.learned.Rate(), d.learnWhy.Load().(Reason)
}

// NoteAdmitted counts a new call admitted whose learned-rate token a
// door outside the detector took (TakeLearned counts its own).
func (d *Detector) NoteAdmitted() {
	if d != nil {
		d.admitted.Add(1)
	}
}

// NoteLearnRefused counts n new calls such a door refused by the
// learned rate.
func (d *Detector) NoteLearnRefused(n int64) {
	if d != nil {
		d.learnRefused.Add(n)
	}
}

// TakeLearned counts a new call against the learned rate at now (after
// MaxCPS: whoever takes a new call's MaxCPS token takes this one): false,
// with the reason of the overload that set the rate, past it. Without a
// learned rate it admits every call (two atomic operations).
func (d *Detector) TakeLearned(now time.Time) (bool, Reason) {
	if d == nil {
		return true, ""
	}
	if d.learning.Load() {
		d.rateMu.Lock()
		ok := d.learned.Take(now)
		d.rateMu.Unlock()
		if !ok {
			d.learnRefused.Add(1)
			return false, d.learnWhy.Load().(Reason)
		}
	}
	d.admitted.Add(1)
	return true, ""
}
