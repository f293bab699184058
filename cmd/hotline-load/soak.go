package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
)

// soakConfig is what the soak test runs: steady load at about half the
// benchmarked capacity, with every kind of call a contact centre sees.
type soakConfig struct {
	Quick    bool
	Duration time.Duration // the load phase (the baseline and the drains come on top)
	Warmup   time.Duration // load before the baseline is taken
	Rate     float64       // calls placed per second (Poisson arrivals)
	// TalkMin and TalkMax bound the talk time (bridge to hang-up) of
	// ordinary calls; 10% of calls are cut much shorter.
	TalkMin, TalkMax time.Duration
	Agents           int
	MaxInFlight      int // calls in progress at most (the generator skips launches beyond)
	Seed             uint64
	RTPMin, RTPMax   int
	RingTimeout      time.Duration
	// Every ShortageEvery (0: never) all agents but ShortageKeep are
	// paused through the API for ShortageFor: callers queue (answered,
	// hold music) and some hang up while waiting.
	ShortageEvery time.Duration
	ShortageFor   time.Duration
	ShortageKeep  int
	// Settle is how long Hotline is left idle before the baseline and the
	// end figures are sampled (SIP transactions linger after a call:
	// sip.transaction_linger, 32 s at most).
	Settle time.Duration
	Sample time.Duration // timeline sampling interval
	Budget time.Duration // bound of the whole run
}

// Defaults derived from bench/results/2026-11-23-vm.md (230 calls/s of
// 1 s calls, 500 concurrent calls on the shared 2-core VM): about half
// the capacity in calls in progress (~100), at 15 calls/s.
func defaultSoakConfig(quick bool) soakConfig {
	c := soakConfig{Quick: quick, Duration: 30 * time.Minute, Warmup: time.Minute, Rate: 15,
		TalkMin: 2 * time.Second, TalkMax: 10 * time.Second, Agents: 300, MaxInFlight: 600,
		RTPMin: 61000, RTPMax: 64999, RingTimeout: 2 * time.Second,
		ShortageEvery: 5 * time.Minute, ShortageFor: 10 * time.Second, ShortageKeep: 5,
		Settle: 35 * time.Second, Sample: 10 * time.Second}
	if quick {
		c.Duration, c.Warmup, c.ShortageEvery, c.Sample = 3*time.Minute, 20*time.Second, 80*time.Second, 5*time.Second
	}
	return c
}

func (c *soakConfig) finish() {
	c.Budget = c.Warmup + c.Duration + 15*time.Minute
}

// Bounds of one call.
const (
	callBound     = 4 * time.Minute   // everything one call does
	answerBound   = 100 * time.Second // a caller waits this long for an agent
	soakMaxWait   = 2 * time.Minute   // Hotline's queue.max_wait: beyond answerBound
	hangupTimeout = 10 * time.Second  // ACK, BYE, re-INVITE
)

// callKind is what a call of the soak test does.
type callKind int

const (
	kindTalk        callKind = iota // answered; the caller hangs up after a random talk time
	kindHoldCaller                  // as kindTalk, with hold and unhold re-INVITEs from the caller
	kindHoldAgent                   // as kindTalk, with hold and unhold re-INVITEs from the agent
	kindNoAnswer                    // 1 or 2 agents let it ring out (CANCEL at the ring timeout), the next answers
	kindAbandon                     // no agent answers; the caller hangs up while waiting
	kindAgentHangup                 // the agent hangs up first; the caller hangs up during the survey
	numKinds
)

var kindNames = [numKinds]string{
	"caller hangs up after talking",
	"hold/unhold re-INVITEs from the caller",
	"hold/unhold re-INVITEs from the agent",
	"agents do not answer (CANCEL at ring timeout), then one does",
	"caller hangs up while waiting (no agent answers)",
	"agent hangs up first (survey), then the caller",
}

// kindWeights is the mix, in percent.
var kindWeights = [numKinds]int{45, 8, 7, 15, 15, 10}

func (k callKind) String() string {
	if k >= 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", int(k))
}

// callPlan is what one call will do, drawn at launch from the seeded
// generator. The agents read it through the pending call.
type callPlan struct {
	Kind callKind
	// NoAnswers is how many offers the agents let ring out before one is
	// answered; negative: none is ever answered.
	NoAnswers   int
	RingDelay   time.Duration // a phone letting the call ring sends its 180 this late (slow phone)
	AnswerDelay time.Duration // the answering agent rings this long first
	Talk        time.Duration // bridge to the first hang-up
	Abandon     time.Duration // kindAbandon: the caller hangs up this long after the INVITE
	HoldAt      time.Duration // hold kinds: hold this long after the bridge...
	HoldFor     time.Duration // ...and unhold this long later
	AfterAgent  time.Duration // kindAgentHangup: the caller stays this long after the agent's BYE
}

func uniform(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// drawKind picks a kind by kindWeights.
func drawKind(rng *rand.Rand) callKind {
	total := 0
	for _, w := range kindWeights {
		total += w
	}
	x := rng.IntN(total)
	for k, w := range kindWeights {
		if x < w {
			return callKind(k)
		}
		x -= w
	}
	return kindTalk
}

// drawPlan draws the next call's plan; the same seed gives the same plans.
func drawPlan(rng *rand.Rand, c soakConfig) callPlan {
	p := callPlan{Kind: drawKind(rng)}
	p.AnswerDelay = uniform(rng, 10*time.Millisecond, 800*time.Millisecond)
	if rng.IntN(10) == 0 {
		p.Talk = uniform(rng, 200*time.Millisecond, time.Second) // hangs up at once
	} else {
		p.Talk = uniform(rng, c.TalkMin, c.TalkMax)
	}
	switch p.Kind {
	case kindHoldCaller, kindHoldAgent:
		p.Talk = uniform(rng, max(c.TalkMin, 3*time.Second), max(c.TalkMax, 4*time.Second))
		p.HoldAt = time.Duration(float64(p.Talk) * (0.15 + 0.2*rng.Float64()))
		p.HoldFor = time.Duration(float64(p.Talk) * (0.2 + 0.3*rng.Float64()))
	case kindNoAnswer:
		p.NoAnswers = 1 + rng.IntN(2)
	case kindAbandon:
		p.NoAnswers = -1
		if rng.IntN(10) == 0 { // hangs up at once, maybe as the agent's phone starts ringing
			p.Abandon = uniform(rng, 50*time.Millisecond, 250*time.Millisecond)
		} else {
			p.Abandon = uniform(rng, 300*time.Millisecond, 3*c.RingTimeout)
		}
		if rng.IntN(3) == 0 { // a slow phone
			p.RingDelay = uniform(rng, 0, 400*time.Millisecond)
		}
		p.Talk = 0
	case kindAgentHangup:
		p.AfterAgent = uniform(rng, 500*time.Millisecond, 4*time.Second)
	}
	return p
}

// ledgerEntry is the driver's record of one call: what was planned and
// what the caller saw.
type ledgerEntry struct {
	N         uint64
	CallID    string
	Kind      callKind
	Warmup    bool
	Start     time.Time
	Sent      bool // the INVITE went out
	Final     int  // final response to the INVITE (0: none)
	Queued    bool // Hotline answered the caller before an agent did (hold music)
	Bridged   bool // an agent answered (its 200 ACKed) and the caller was answered
	Cancelled bool // the caller CANCELled its INVITE
	ByeQueued bool // the caller hung up (BYE) while queued
	Offers    int  // agent INVITEs for the call
	Reinvites int  // re-INVITEs sent / answered 200
	ReinvOK   int
	HungUpBy  string // caller, agent, hotline
	Err       string // how the call went differently from its plan ("": as planned)
}

// soakDriver runs the soak test.
type soakDriver struct {
	cfg   soakConfig
	log   *slog.Logger
	pr    *procs
	work  string
	repo  string
	bin   string
	media *mediaEngine
	h     *hotlineProc
	g     *loadGen
	res   *soakResults
	rng   *rand.Rand // the launcher's only

	inFlight atomic.Int64
	mu       sync.Mutex
	ledger   []ledgerEntry
	store    *recStore
}

// run does the whole soak test and fills d.res; the checks are computed
// by the caller from d.res.
func (d *soakDriver) run(ctx context.Context) error {
	d.res.Started = time.Now()
	d.res.Machine = collectMachine(ctx, d.repo)
	d.rng = rand.New(rand.NewPCG(d.cfg.Seed, d.cfg.Seed^0x9e3779b97f4a7c15))
	if d.bin == "" {
		d.log.Info("building hotline")
		d.bin = filepath.Join(d.work, "hotline")
		build := exec.CommandContext(ctx, "go", "build", "-o", d.bin, "./cmd/hotline")
		build.Dir = d.repo
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/hotline: %w\n%s", err, out)
		}
	}
	media, err := newMediaEngine(4, 4*d.cfg.Agents+4*d.cfg.MaxInFlight+1024)
	if err != nil {
		return err
	}
	mctx, stopMedia := context.WithCancel(context.WithoutCancel(ctx))
	var mwg sync.WaitGroup
	mwg.Add(1)
	go func() { defer mwg.Done(); media.run(mctx) }()
	defer func() { stopMedia(); mwg.Wait() }()
	d.media = media

	o := hotlineOpts{Agents: d.cfg.Agents, RTPMin: d.cfg.RTPMin, RTPMax: d.cfg.RTPMax, RingTimeout: d.cfg.RingTimeout,
		MaxWait: soakMaxWait, AutoPauseAfter: -1, LogLevel: "info", LogFormat: "json"}
	d.log.Info("starting hotline", "agents", o.Agents, "rtp", fmt.Sprintf("%d-%d", o.RTPMin, o.RTPMax))
	h, err := startHotline(ctx, d.pr, d.bin, filepath.Join(d.work, "hotline"), o)
	if err != nil {
		return err
	}
	h.client = noKeepAlive()
	d.h = h
	d.res.HotlinePID = h.PID()
	d.store = newRecStore(filepath.Join(h.dir, "recordings"))
	g, err := newLoadGen(d.media, h.sip, "1900", d.log.With("component", "sipgo"))
	if err != nil {
		return err
	}
	d.g = g
	defer g.close()
	users := make([]string, d.cfg.Agents)
	for i := range users {
		users[i] = agentName(i)
	}
	if failed, err := g.registerAgents(ctx, users, agentPassword, 32); failed > 0 {
		return fmt.Errorf("%d agents failed to register: %w", failed, err)
	}
	if n, err := h.availableAgents(ctx); err != nil || n != d.cfg.Agents {
		return fmt.Errorf("%d of %d agents available after registering (%v)", n, d.cfg.Agents, err)
	}
	d.res.IdleRSS, _ = ProcRSS(h.PID())

	// Warm-up, drain, baseline.
	d.log.Info("warm-up", "for", d.cfg.Warmup, "calls_per_s", d.cfg.Rate)
	d.phase(ctx, d.cfg.Warmup, true)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	base, err := d.quiesce(ctx, "baseline")
	d.res.Baseline = base
	if err != nil {
		return fmt.Errorf("not idle after the warm-up: %w", err)
	}
	d.log.Info("baseline", "goroutines", base.Goroutines, "fds", base.FDs, "rss_mib", base.RSS>>20, "rtp_sockets", base.RTPSockets)

	// The soak.
	d.log.Info("soak", "for", d.cfg.Duration, "calls_per_s", d.cfg.Rate, "seed", d.cfg.Seed)
	d.res.LoadStart = time.Now()
	d.phase(ctx, d.cfg.Duration, false)
	d.res.LoadEnd = time.Now()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	end, err := d.quiesce(ctx, "end")
	d.res.End = end
	d.res.Finished = time.Now()
	if err != nil {
		d.res.Notes = append(d.res.Notes, "Hotline did not become idle after the load: "+err.Error())
	}
	return nil
}

// phase places calls for dur, samples Hotline meanwhile and waits for
// every call it placed to end.
func (d *soakDriver) phase(ctx context.Context, dur time.Duration, warm bool) {
	pctx, stop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Add(1)
	go func() { defer bg.Done(); d.sampler(pctx, warm) }()
	if !warm && d.cfg.ShortageEvery > 0 {
		bg.Add(1)
		go func() { defer bg.Done(); d.shortages(pctx, dur) }()
	}
	var calls sync.WaitGroup
	d.launch(ctx, dur, warm, &calls)
	if ctx.Err() != nil {
		d.h.stop(5 * time.Second) // interrupted: the calls end at once
	}
	// Every call is bounded by callBound; wait a little longer at most.
	waited := make(chan struct{})
	go func() { calls.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(callBound + 30*time.Second):
		d.note("calls still running %s after the last launch", callBound+30*time.Second)
	}
	stop()
	bg.Wait()
}

// launch places calls with exponentially distributed gaps (Poisson
// arrivals at cfg.Rate) until dur has passed.
func (d *soakDriver) launch(ctx context.Context, dur time.Duration, warm bool, calls *sync.WaitGroup) {
	start := time.Now()
	deadline := start.Add(dur)
	maxLaunches := int(d.cfg.Rate*dur.Seconds()*3) + 100 // bounds the loop whatever the draws
	next := start
	for i := 0; i < maxLaunches && ctx.Err() == nil && d.h.alive(); i++ {
		next = next.Add(time.Duration(d.rng.ExpFloat64() / d.cfg.Rate * float64(time.Second)))
		if next.After(deadline) {
			break
		}
		plan := drawPlan(d.rng, d.cfg)
		if w := time.Until(next); w > 0 {
			select {
			case <-time.After(w):
			case <-ctx.Done():
				return
			}
		} else if -w > d.res.MaxLaunchLag {
			d.res.MaxLaunchLag = -w
		}
		if d.inFlight.Load() >= int64(d.cfg.MaxInFlight) {
			d.res.Skipped++
			continue
		}
		d.inFlight.Add(1)
		calls.Add(1)
		go func() {
			defer calls.Done()
			defer d.inFlight.Add(-1)
			e := d.placeCall(ctx, plan, warm)
			d.mu.Lock()
			d.ledger = append(d.ledger, e)
			d.mu.Unlock()
		}()
	}
}

func (d *soakDriver) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	d.mu.Lock()
	d.res.Notes = append(d.res.Notes, s)
	d.mu.Unlock()
	d.log.Warn(s)
}

// sleepCtx sleeps for dur or until one of the channels closes; it
// reports whether the whole time passed.
func sleepCtx(dur time.Duration, done ...<-chan struct{}) bool {
	if dur <= 0 {
		return true
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	var a, b <-chan struct{}
	if len(done) > 0 {
		a = done[0]
	}
	if len(done) > 1 {
		b = done[1]
	}
	select {
	case <-t.C:
		return true
	case <-a:
	case <-b:
	}
	return false
}

// placeCall places one call and plays its plan, as caller and (through
// the pending call) as the agents.
func (d *soakDriver) placeCall(ctx context.Context, plan callPlan, warm bool) (e ledgerEntry) {
	g := d.g
	e.Kind, e.Warmup, e.Start = plan.Kind, warm, time.Now()
	ctx, cancel := context.WithTimeout(ctx, callBound)
	defer cancel()
	n, tok, pc, done := g.newCall(&plan)
	defer done()
	e.N = n
	defer func() { e.Offers = int(pc.offers.Load()) }()
	req := g.inviteRequest(n, tok)
	dlg, err := g.caller.dua.WriteInvite(ctx, req)
	if err != nil {
		e.Err = "INVITE not sent: " + shortErr(err)
		return e
	}
	e.CallID, e.Sent = req.CallID().Value(), true
	defer dlg.Close()
	g.callerDlgs.Store(e.CallID, dlg)
	defer g.callerDlgs.Delete(e.CallID)
	// ACK, BYE and re-INVITEs go out even when ctx has just ended.
	hctx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), hangupTimeout)
	}
	bye := func(by string) {
		c, cancel := hctx()
		defer cancel()
		if err := dlg.Bye(c); err != nil && e.Err == "" {
			e.Err = "BYE: " + shortErr(err)
		}
		if e.HungUpBy == "" {
			e.HungUpBy = by
		}
	}

	wait := answerBound
	if plan.Kind == kindAbandon {
		wait = plan.Abandon
	}
	actx, acancel := context.WithTimeout(ctx, wait)
	err = dlg.WaitAnswer(actx, sipgo.AnswerOptions{})
	timedOut := errors.Is(actx.Err(), context.DeadlineExceeded)
	acancel()
	// Hotline answers the caller on the agent's 200 OK, or earlier when
	// the call has to wait in the queue (hold music).
	e.Queued = err == nil && !pc.agent200.Load()
	if r := dlg.InviteResponse; r != nil && !r.IsProvisional() {
		e.Final = r.StatusCode
	}
	if err != nil {
		if e.Final == 200 { // a CANCEL crossed Hotline's 200 OK: hang up properly
			c, cancel := hctx()
			_ = dlg.Ack(c)
			cancel()
			bye("caller")
		}
		if timedOut && ctx.Err() == nil {
			e.Cancelled = true
			if plan.Kind != kindAbandon {
				e.Err = fmt.Sprintf("no answer within %s (CANCELled)", wait)
			}
			return e
		}
		var dr *sipgo.ErrDialogResponse
		if errors.As(err, &dr) {
			e.Err = fmt.Sprintf("INVITE answered %d", dr.Res.StatusCode)
		} else {
			e.Err = "INVITE: " + shortErr(err)
		}
		return e
	}
	{
		c, cancel := hctx()
		err := dlg.Ack(c)
		cancel()
		if err != nil {
			e.Err = "ACK: " + shortErr(err)
			return e
		}
	}
	dst, err := parseSDPAudio(dlg.InviteResponse.Body())
	if err != nil {
		e.Err = "answer SDP: " + err.Error()
		bye("caller")
		return e
	}
	stream, err := g.media.start(sideCaller, int(n), dst)
	if err != nil {
		e.Err = err.Error()
		bye("caller")
		return e
	}
	defer g.media.stop(stream)
	hungUp := dlg.Context().Done()

	if plan.Kind == kindAbandon {
		// Hotline answered (queued, hold music): hang up as planned.
		if !sleepCtx(time.Until(e.Start.Add(plan.Abandon)), hungUp, ctx.Done()) && dlg.Context().Err() != nil {
			e.HungUpBy, e.Err = "hotline", "hung up by Hotline while waiting"
			return e
		}
		select {
		case <-pc.answered:
			e.Err = "an agent answered a call no agent was to answer"
		default:
			e.ByeQueued = true
		}
		bye("caller")
		return e
	}

	// Wait for the agent (at once unless queued).
	select {
	case <-pc.answered:
	case <-hungUp:
		e.HungUpBy, e.Err = "hotline", "hung up by Hotline before an agent answered"
		return e
	case <-ctx.Done():
		e.Err = "call bound reached waiting for an agent"
		bye("caller")
		return e
	case <-time.After(answerBound):
		e.Err = fmt.Sprintf("no agent within %s", answerBound)
		bye("caller")
		return e
	}
	e.Bridged = true
	bridged := time.Now()

	if plan.Kind == kindHoldCaller || plan.Kind == kindHoldAgent {
		reinv := func(version int, dir string) {
			c, cancel := hctx()
			defer cancel()
			e.Reinvites++
			var err error
			if plan.Kind == kindHoldCaller {
				err = callerReinvite(c, dlg, sdpBody(n, version, g.media.port(sideCaller, int(n)), dir))
			} else {
				err = d.agentHold(c, pc, version, dir)
			}
			if err != nil {
				if e.Err == "" && dlg.Context().Err() == nil {
					e.Err = shortErr(err)
				}
				return
			}
			e.ReinvOK++
		}
		if sleepCtx(time.Until(bridged.Add(plan.HoldAt)), hungUp, ctx.Done()) {
			reinv(2, "sendonly")
			if sleepCtx(plan.HoldFor, hungUp, ctx.Done()) {
				reinv(3, "sendrecv")
			}
		}
	}

	if !sleepCtx(time.Until(bridged.Add(plan.Talk)), hungUp, ctx.Done()) {
		if dlg.Context().Err() != nil {
			e.HungUpBy = "hotline"
			if e.Err == "" {
				e.Err = "hung up by Hotline during the call"
			}
			return e
		}
		e.Err = "call bound reached during the call"
		bye("caller")
		return e
	}
	if plan.Kind == kindAgentHangup {
		c, cancel := hctx()
		err := g.agentHangup(c, pc)
		cancel()
		e.HungUpBy = "agent"
		if err != nil {
			e.Err = shortErr(err)
		}
		// The caller hears the survey; Hotline may end the call first.
		if !sleepCtx(plan.AfterAgent, hungUp, ctx.Done()) {
			return e
		}
		bye("agent")
		return e
	}
	bye("caller")
	return e
}

// agentHold sends the agent's hold (sendonly) or unhold (sendrecv)
// re-INVITE for pc's call, from the port its 200 OK announced.
func (d *soakDriver) agentHold(ctx context.Context, pc *pendingCall, version int, dir string) error {
	_, dlg := pc.agent()
	if dlg == nil || dlg.InviteResponse == nil {
		return fmt.Errorf("%w: the agent has not answered", ErrReinvite)
	}
	ours, err := parseSDPAudio(dlg.InviteResponse.Body())
	if err != nil {
		return fmt.Errorf("%w: our own answer: %v", ErrReinvite, err)
	}
	return d.g.agentReinvite(ctx, pc, sdpBody(uint64(ours.Port()), version, int(ours.Port()), dir))
}

// shortages pauses all agents but ShortageKeep every ShortageEvery for
// ShortageFor, within dur; agents are always unpaused afterwards.
func (d *soakDriver) shortages(ctx context.Context, dur time.Duration) {
	start := time.Now()
	for i := 1; ; i++ {
		at := start.Add(time.Duration(i) * d.cfg.ShortageEvery)
		if at.Add(d.cfg.ShortageFor).After(start.Add(dur)) || i > 1000 {
			return
		}
		if !sleepCtx(time.Until(at), ctx.Done()) {
			return
		}
		var paused []string
		for a := d.cfg.ShortageKeep; a < d.cfg.Agents; a++ {
			if err := d.h.agentAction(ctx, agentName(a), "pause"); err != nil {
				d.note("shortage %d: pausing %s: %v", i, agentName(a), err)
				break
			}
			paused = append(paused, agentName(a))
		}
		d.log.Info("agent shortage", "paused", len(paused), "for", d.cfg.ShortageFor)
		sleepCtx(d.cfg.ShortageFor, ctx.Done())
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		for _, a := range paused {
			if err := d.h.agentAction(uctx, a, "unpause"); err != nil {
				d.note("shortage %d: unpausing %s: %v", i, a, err)
			}
		}
		cancel()
		d.mu.Lock()
		d.res.Shortages++
		d.mu.Unlock()
	}
}

// sampler records the timeline (and prunes checked recordings) until ctx ends.
func (d *soakDriver) sampler(ctx context.Context, warm bool) {
	t := time.NewTicker(d.cfg.Sample)
	defer t.Stop()
	pid := d.h.PID()
	last, _ := ProcCPU(pid)
	lastAt := time.Now()
	maxSamples := int(d.cfg.Budget/d.cfg.Sample) + 10
	for range maxSamples {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := d.probe(ctx)
		if ctx.Err() != nil {
			return // the probe was cut short
		}
		cpu, _ := ProcCPU(pid)
		now := time.Now()
		s.Cores = (cpu - last).Seconds() / now.Sub(lastAt).Seconds()
		last, lastAt = cpu, now
		s.InFlight = int(d.inFlight.Load())
		s.Warmup = warm
		d.mu.Lock()
		d.res.Timeline = append(d.res.Timeline, s)
		d.mu.Unlock()
		if !d.h.alive() {
			d.note("Hotline exited during the load (%s)", d.h.exitStatus())
			return
		}
		// Keep the disk bounded: check and remove recordings stored a
		// while ago (the uploader is done with them).
		d.store.scan(30*time.Second, true)
	}
}

// quiesce waits until Hotline is idle (no call, no recording, nothing
// to upload), checks the rest of the store, lets Hotline settle, then
// samples it a few times and keeps the medians.
func (d *soakDriver) quiesce(ctx context.Context, what string) (snapshot, error) {
	d.log.Info("waiting for Hotline to be idle", "for", what)
	b, err := d.h.waitIdle(ctx, 2*time.Minute, true)
	d.res.UploadFailures, d.res.UploadLastError = b.Failures, b.LastError
	if n := d.g.stopStrayStreams(); n > 0 {
		d.note("%s: %d agent calls Hotline never hung up (their audio was stopped)", what, n)
		d.res.StrayAgentLegs += n
	}
	d.store.scan(0, true)
	if ctx.Err() != nil {
		return snapshot{}, ctx.Err()
	}
	if !d.h.alive() {
		return snapshot{}, fmt.Errorf("hotline exited (%s)", d.h.exitStatus())
	}
	idleErr := err // not idle: sample anyway, the figures show what is stuck
	// Settle: SIP transactions end, and a garbage collection runs (Go
	// forces one after 2 minutes without), so that the heap in use is
	// the live heap.
	idle := time.Now()
	gc0 := d.gcCount(ctx)
	d.log.Info("settling", "for", d.cfg.Settle)
	if !sleepCtx(d.cfg.Settle, ctx.Done()) {
		return snapshot{}, ctx.Err()
	}
	// Offers still ringing now were given up by Hotline without a CANCEL.
	if n := d.g.stuckRingOuts(d.cfg.RingTimeout + 20*time.Second); n > 0 {
		d.note("%s: %d offers still ringing %s after Hotline became idle (never cancelled)", what, n, d.cfg.Settle)
	}
	for d.gcCount(ctx) <= gc0 && time.Since(idle) < gcWaitBound {
		if !sleepCtx(2*time.Second, ctx.Done()) {
			return snapshot{}, ctx.Err()
		}
	}
	if d.gcCount(ctx) <= gc0 {
		d.note("%s: no garbage collection in Hotline within %s of being idle", what, gcWaitBound)
	}
	var samples []snapshot
	for i := range 5 {
		if i > 0 && !sleepCtx(time.Second, ctx.Done()) {
			return snapshot{}, ctx.Err()
		}
		samples = append(samples, d.probe(ctx))
	}
	s := medianSnapshot(samples)
	s.AgentsAvailable, _ = d.h.availableAgents(ctx)
	return s, idleErr
}

// envOn reports whether an environment variable is set to something else than "" or "0".
func envOn(name string) bool { v := os.Getenv(name); return v != "" && v != "0" }

// exitStatus says how the Hotline process ended ("" while it runs).
func (c *child) exitStatus() string {
	if c.alive() || c.cmd.ProcessState == nil {
		return ""
	}
	return c.cmd.ProcessState.String()
}

// gcWaitBound bounds the wait for a garbage collection in idle Hotline
// (the runtime forces one every 2 minutes).
const gcWaitBound = 150 * time.Second

// gcCount is the number of garbage collections Hotline has completed
// (-1 if unknown).
func (d *soakDriver) gcCount(ctx context.Context) float64 {
	m, err := d.h.scrape(ctx)
	if err != nil {
		return -1
	}
	v, ok := m["go_gc_duration_seconds_count"]
	if !ok {
		return -1
	}
	return v
}

// runSoak is the "soak" subcommand.
func runSoak(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", envOn("SOAK_QUICK"), "3 minutes of load instead of 30 (default from SOAK_QUICK)")
	duration := fs.Duration("duration", 0, "load time (default SOAK_DURATION, else 30m, or 3m with -quick)")
	rate := fs.Float64("rate", 0, "calls placed per second (default 15)")
	agents := fs.Int("agents", 0, "agents registered (default 300)")
	talkMin := fs.Duration("talk-min", 0, "shortest ordinary talk time (default 2s)")
	talkMax := fs.Duration("talk-max", 0, "longest ordinary talk time (default 10s)")
	warmup := fs.Duration("warmup", 0, "load before the baseline (default 1m, or 20s with -quick)")
	shortage := fs.Duration("shortage-every", -1, "agent shortage interval, 0 for none (default 5m, or 80s with -quick)")
	seed := fs.Uint64("seed", 0, "seed of the calls' random plans (0: from the clock; printed in the report)")
	out := fs.String("out", "bench/results", "directory of the report")
	repo := fs.String("repo", ".", "root of the Hotline source tree")
	bin := fs.String("hotline", "", "Hotline binary (default: build ./cmd/hotline)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := defaultSoakConfig(*quick)
	if v := os.Getenv("SOAK_DURATION"); v != "" && *duration == 0 {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fmt.Fprintf(stderr, "hotline-load: SOAK_DURATION=%q is not a positive duration (e.g. 30m)\n", v)
			return 2
		}
		cfg.Duration = d
	}
	set := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	set(&cfg.Duration, *duration)
	set(&cfg.Warmup, *warmup)
	set(&cfg.TalkMin, *talkMin)
	set(&cfg.TalkMax, *talkMax)
	if *shortage >= 0 {
		cfg.ShortageEvery = *shortage
	}
	if *rate > 0 {
		cfg.Rate = *rate
	}
	if *agents > 0 {
		cfg.Agents = *agents
	}
	if cfg.Rate > 500 || cfg.Agents > 5000 || cfg.TalkMax < cfg.TalkMin || cfg.ShortageKeep >= cfg.Agents {
		fmt.Fprintln(stderr, "hotline-load: soak: -rate at most 500, -agents at most 5000 (and more than 5), -talk-max ≥ -talk-min")
		return 2
	}
	cfg.Seed = *seed
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	cfg.finish()

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	work, err := os.MkdirTemp("", "hotline-soak-")
	if err != nil {
		fmt.Fprintln(stderr, "hotline-load:", err)
		return 1
	}
	pr := &procs{}
	defer func() {
		pr.stopAll()
		_ = os.RemoveAll(work)
	}()
	absRepo, err := filepath.Abs(*repo)
	if err != nil {
		fmt.Fprintln(stderr, "hotline-load:", err)
		return 1
	}
	absBin := ""
	if *bin != "" {
		if absBin, err = filepath.Abs(*bin); err != nil {
			fmt.Fprintln(stderr, "hotline-load:", err)
			return 1
		}
	}
	res := &soakResults{Cfg: cfg}
	d := &soakDriver{cfg: cfg, log: log, pr: pr, work: work, repo: absRepo, bin: absBin, res: res}
	log.Info("soak test", "load", cfg.Duration, "warmup", cfg.Warmup, "calls_per_s", cfg.Rate, "agents", cfg.Agents, "seed", cfg.Seed)
	mctx, cancel := context.WithTimeout(ctx, cfg.Budget)
	defer cancel()
	runErr := d.run(mctx)
	if ctx.Err() != nil {
		pr.stopAll()
		fmt.Fprintln(stderr, "hotline-load: interrupted; everything started was stopped, no report written")
		return 1
	}
	if runErr != nil {
		res.RunErr = runErr.Error()
		log.Error("soak run ended early", "error", runErr)
	}
	d.finish()
	if res.Finished.IsZero() {
		res.Finished = time.Now()
	}
	res.Checks = res.evaluate(d.store)
	if !res.passed() && d.h != nil {
		res.LogKept = keepLog(d.h.logPath, filepath.Join(absRepo, "bench", "tmp"), res.Started)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(stderr, "hotline-load:", err)
		return 1
	}
	path := filepath.Join(*out, fmt.Sprintf("%s-%s-soak.md", res.Started.Format("2006-01-02"), res.Machine.Host))
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(stderr, "hotline-load:", err)
		return 1
	}
	res.writeSoakReport(f)
	if err := f.Close(); err != nil {
		fmt.Fprintln(stderr, "hotline-load:", err)
		return 1
	}
	fmt.Fprintf(stdout, "report: %s\nseed: %d\n", path, cfg.Seed)
	for _, c := range res.Checks {
		fmt.Fprintf(stdout, "%-6s %s: %s\n", strings.Trim(passText(c.Pass), "*"), c.Name, c.End)
	}
	if !res.passed() {
		fmt.Fprintln(stderr, "hotline-load: soak test FAILED")
		return 1
	}
	return 0
}

// finish collects what the run left: the agents' counters, Hotline's
// liveness, its stopped log and the store.
func (d *soakDriver) finish() {
	r := d.res
	d.mu.Lock()
	r.Ledger = append([]ledgerEntry(nil), d.ledger...)
	d.mu.Unlock()
	sort.Slice(r.Ledger, func(i, j int) bool { return r.Ledger[i].N < r.Ledger[j].N })
	if d.g != nil {
		r.AgentRingOuts, r.AgentErrors = d.g.agentRingOuts.Load(), d.g.agentErrors.Load()
		r.AgentNotCancelled = d.g.agentNotCancelled.Load()
		r.AgentNoAck = d.g.agentNoAck.Load()
		r.StrayLegs, r.Uncancelled, r.NoAckLegs = d.g.legRefs()
	}
	if d.h == nil {
		return
	}
	r.HotlineAlive = d.h.alive()
	d.h.stop(20 * time.Second)
	if f, err := os.Open(d.h.logPath); err == nil {
		ls, err := parseHotlineLog(f)
		f.Close()
		if err != nil {
			r.Notes = append(r.Notes, "Hotline's log not fully read: "+err.Error())
		}
		r.Log = ls
	}
	r.SpoolLeft = countFiles(filepath.Join(d.h.dir, "spool"))
	if d.store != nil {
		d.store.mu.Lock()
		r.RecordsRead, r.RecDropped = d.store.records, d.store.dropped
		d.store.mu.Unlock()
	}
}

// countFiles counts the regular files under dir.
func countFiles(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(p string, e iofs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// keepLog copies Hotline's log next to the report's inputs (bench/tmp,
// ignored by git) and returns where, or "" when it could not.
func keepLog(src, dir string, started time.Time) string {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ""
	}
	dst := filepath.Join(dir, "soak-"+started.Format("20060102-150405")+"-hotline.log")
	in, err := os.Open(src)
	if err != nil {
		return ""
	}
	defer in.Close()
	outF, err := os.Create(dst)
	if err != nil {
		return ""
	}
	if _, err := io.Copy(outF, in); err != nil {
		outF.Close()
		return ""
	}
	if err := outF.Close(); err != nil {
		return ""
	}
	return dst
}
