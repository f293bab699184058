package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchConfig is how thoroughly the benchmark measures.
type benchConfig struct {
	Quick       bool
	Reps        int           // repetitions of each figure
	Agents      int           // registered agents
	StepDur     time.Duration // how long a call-rate step launches calls
	Hold        time.Duration // call length in call-rate steps
	SearchIters int           // bisection steps of the call-rate search
	RateStart   float64
	RateCap     float64
	ConcSteps   []int         // concurrent-call ramp
	Measure     time.Duration // measurement window at each concurrency step
	MinIO       bool
	RoutingArgs []string // extra go test flags for the routing benchmark
	// RoutingTimeout bounds the routing benchmarks (figure 7): compiling
	// and running them takes 30-75 s on a quiet machine, minutes on a
	// busy one.
	RoutingTimeout time.Duration
	Budget         time.Duration // of the Go generator's figures
	// GoFigures and SIPpFigures select the parts of the run (both by
	// default); SIPp is the SIPp part's configuration.
	GoFigures, SIPpFigures bool
	SIPp                   sippConfig
	// ClusterFigures selects the three-node part (issue 13); Cluster is
	// its configuration.
	ClusterFigures bool
	Cluster        clusterConfig
	// XferFigures selects the transfer and monitoring part (issue 11,
	// xferbench.go); Xfer is its configuration.
	XferFigures bool
	Xfer        xferConfig
	// Overload is Hotline's sip.overload section (a YAML flow mapping;
	// "": Hotline's defaults), to compare settings.
	Overload string
	// RTPReaders is Hotline's rtp.readers ("": its default).
	RTPReaders string
	// RTPKernel is Hotline's rtp.kernel, the in-kernel relay (auto, on or
	// off; "": its default).
	RTPKernel string
	// HotlineLog is the measured Hotlines' log level ("": warn, so that
	// a line per call is not measured too); debug or info to investigate
	// a run (its hotline.log, kept with -keep-work).
	HotlineLog string
	// HotlineEnv is added to the measured Hotlines' environment
	// (NAME=VALUE, such as GOGC=200), to compare runtime settings.
	HotlineEnv []string
	// OverloadCPS, when above 0, makes the Go part figure 1o only: Reps
	// steps at this fixed rate, with no search and no other figure (to
	// compare overload control A/B at one load, quickly).
	OverloadCPS float64
	// OverloadStep, when above 0, is how long each of those SIPp steps
	// places calls (-overload-step; default the rate steps' length): a
	// long step measures a sustained overload past its first seconds.
	OverloadStep time.Duration
}

func defaultBenchConfig(quick bool) benchConfig {
	if quick {
		return benchConfig{Quick: true, Reps: 1, Agents: 2600, StepDur: 3 * time.Second, Hold: time.Second,
			SearchIters: 1, RateStart: 150, RateCap: 3200, ConcSteps: []int{500, 1000, 1500, 2000, 2500},
			Measure: 3 * time.Second, MinIO: true, RoutingArgs: []string{"-benchtime", "100ms"}, RoutingTimeout: 90 * time.Second, Budget: 170 * time.Second,
			GoFigures: true, SIPpFigures: true, SIPp: defaultSIPpConfig(true), Cluster: defaultClusterConfig(true),
			Xfer: defaultXferConfig(true)}
	}
	return benchConfig{Reps: 3, Agents: 2600, StepDur: 5 * time.Second, Hold: time.Second,
		SearchIters: 3, RateStart: 100, RateCap: 3200, ConcSteps: []int{250, 500, 1000, 1500, 2000, 2500},
		Measure: 5 * time.Second, MinIO: true, Budget: 10 * time.Minute, RoutingTimeout: 3 * time.Minute,
		GoFigures: true, SIPpFigures: true, SIPp: defaultSIPpConfig(false), Cluster: defaultClusterConfig(false),
		Xfer: defaultXferConfig(false)}
}

// totalBudget bounds the whole run's measurements.
func (c benchConfig) totalBudget() time.Duration {
	var t time.Duration
	if c.GoFigures {
		t += c.Budget + c.RoutingTimeout
	}
	if c.SIPpFigures {
		t += c.SIPp.Budget
	}
	if c.ClusterFigures {
		t += c.Cluster.Budget
	}
	if c.XferFigures {
		t += c.Xfer.Budget
	}
	return t
}

// Pass criteria.
const (
	maxFailedShare = 0.001 // < 0.1% failed calls
	cpuLimitCores  = 1.6   // 80% of two cores
	maxLaunchLag   = 250 * time.Millisecond
	maxPacerLag    = 100 * time.Millisecond
	answerMargin   = 1.5 // agents needed per concurrent call, at least
)

// rateStep is one call-rate measurement.
type rateStep struct {
	Rate      float64
	Attempted int
	// Refused calls got 503 at once (overload control): not admitted.
	// Failed are admitted calls that failed (never counting a refused
	// one), as SIPp's S3 figure tells them apart.
	Refused, Failed int
	RefuseTimes     []time.Duration // INVITE → 503
	// RefusedBy is Hotline's refusals over the step by the overload
	// signal that caused them (hotline_calls_refused_total's reason,
	// "cpu=3,socket_delay=12"); "" when none or not readable.
	RefusedBy string
	// HotlineRefuse99 is the p99 of hotline_calls_refused_seconds over
	// the step (the INVITE's arrival in Hotline's socket → its 503 sent,
	// a bucket's upper bound): Hotline's own part of RefuseTimes, without
	// the generator's; 0 when none or not readable.
	HotlineRefuse99   time.Duration
	Errors            map[string]int
	To180, ToAgent    []time.Duration
	To200             []time.Duration // INVITE sent to 200 OK received (call setup)
	LaunchLag         time.Duration
	Bridged, Uploaded int
	AgentAnswered     int // agent INVITEs answered (retried offers count twice)
	Expected          int // callers connected to an agent: each must be recorded
	// ByRecords is how many of the expected calls' Hotline call records
	// were read to judge them (0: not needed: every recording stored).
	ByRecords    int
	Queued       int // callers answered without a 180 first (queued, or 180 lost)
	UploadErr    string
	RSS, IdleRSS int64
	HotlineCPU   time.Duration
	Elapsed      time.Duration
}

// errHungUpBeforeAgent is the failure of a call answered in the queue
// whose caller hung up (after its hold) before an agent's answer was
// bridged: an agent was offered it, but it was never connected.
const errHungUpBeforeAgent = "answered in the queue, hung up before an agent's answer was bridged"

// countReached judges the step's answered calls once Hotline is idle
// (an agent's answer may be acknowledged after its caller's call()
// returned): a call that reached an agent must be recorded (Expected);
// one answered in the queue and offered to an agent that never got
// through failed, as in the SIPp figures.
func (s *rateStep) countReached(res []callResult) {
	for i := range res {
		r := &res[i]
		if r.Refused || !r.Bridged || r.ToAgent == 0 {
			continue
		}
		if r.reachedAgent() {
			s.Expected++
			r.expected = true
		} else if r.OK {
			s.Failed++
			s.Errors[errHungUpBeforeAgent]++
			r.missed = true
		}
	}
}

// errNeverConnected is the failure of a call whose agent had its answer
// acknowledged while Hotline's call record says the call was never
// connected: its caller hung up in the queue (after its hold) while the
// bridge was being made, e.g. from another node.
const errNeverConnected = "answered in the queue; an agent's answer was acknowledged, but Hotline's call record says never connected"

// callRecorder is a rate target whose call records the benchmark can read
// (Hotline's records file backend).
type callRecorder interface {
	// callRecords returns Hotline's records of the Call-IDs in want,
	// waiting (bounded) while they are still arriving.
	callRecords(ctx context.Context, want map[string]bool, bound time.Duration) map[string]hotlineCall
}

// judgeByRecords settles the generator's view of the calls offered to an
// agent with Hotline's call records, as the SIPp figures judge: a call
// its record shows connected must be recorded, even when the agent's
// acknowledgement never reached the generator (countReached counted it
// as hung up before the bridge); one its record shows never connected
// failed its caller and needs no recording, even when an agent's answer
// was acknowledged (its caller hung up in the queue while the bridge was
// made, e.g. across nodes). A call without a record keeps the
// generator's judgement. It returns how many calls changed sides.
func (s *rateStep) judgeByRecords(ctx context.Context, h callRecorder, res []callResult) int {
	want := map[string]bool{}
	for _, r := range res {
		if (r.expected || r.missed) && r.CallID != "" {
			want[r.CallID] = true
		}
	}
	if len(want) == 0 {
		return 0
	}
	recs := h.callRecords(ctx, want, 10*time.Second)
	moved := 0
	for i := range res {
		r := &res[i]
		c, ok := recs[r.CallID]
		switch {
		case !ok || r.CallID == "":
		case r.expected && c.Connected == nil:
			r.expected = false
			s.Expected--
			s.Failed++
			s.Errors[errNeverConnected]++
			moved++
		case r.missed && c.Connected != nil:
			r.missed, r.expected = false, true
			s.Expected++
			s.Failed--
			if s.Errors[errHungUpBeforeAgent]--; s.Errors[errHungUpBeforeAgent] == 0 {
				delete(s.Errors, errHungUpBeforeAgent)
			}
			moved++
		}
	}
	s.ByRecords = len(recs)
	return moved
}

// failedShare is the share of the admitted calls that failed.
func (s *rateStep) failedShare() float64 {
	if adm := s.Attempted - s.Refused; adm > 0 {
		return float64(s.Failed) / float64(adm)
	}
	if s.Attempted > 0 {
		return 0 // every call refused: refusedShare says so
	}
	return 1
}

// refusedShare is the share of the calls refused at once (503).
func (s *rateStep) refusedShare() float64 {
	if s.Attempted == 0 {
		return 0
	}
	return float64(s.Refused) / float64(s.Attempted)
}

// pass: a sustainable rate refuses (almost) nothing and its admitted
// calls are good: < 0.1% refused, < 0.1% of the admitted failed.
func (s *rateStep) pass() bool {
	return s.Attempted > 0 && s.failedShare() < maxFailedShare && s.refusedShare() < maxFailedShare &&
		s.LaunchLag < maxLaunchLag && s.UploadErr == "" && s.Uploaded >= s.Expected
}

func (s *rateStep) why() string {
	var w []string
	if s.refusedShare() >= maxFailedShare {
		by := ""
		if s.RefusedBy != "" {
			by = ": " + s.RefusedBy
		}
		w = append(w, fmt.Sprintf("%d/%d refused at once (503%s)", s.Refused, s.Attempted, by))
	}
	if s.failedShare() >= maxFailedShare {
		w = append(w, fmt.Sprintf("%d/%d admitted calls failed", s.Failed, s.Attempted-s.Refused))
		w = append(w, topErrors(s.Errors, 2))
	}
	if s.LaunchLag >= maxLaunchLag {
		w = append(w, fmt.Sprintf("generator behind by %s", s.LaunchLag.Round(time.Millisecond)))
	}
	if s.UploadErr != "" {
		w = append(w, s.UploadErr)
	} else if s.Uploaded < s.Expected {
		w = append(w, fmt.Sprintf("%d of %d recordings uploaded", s.Uploaded, s.Expected))
	}
	if len(w) == 0 {
		return "ok"
	}
	return strings.Join(w, "; ")
}

func topErrors(m map[string]int, n int) string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || l[i].v == l[j].v && l[i].k < l[j].k })
	var out []string
	for i := 0; i < len(l) && i < n; i++ {
		out = append(out, fmt.Sprintf("%dx %s", l[i].v, l[i].k))
	}
	return strings.Join(out, ", ")
}

// concStep is one step of the concurrent-call ramp.
type concStep struct {
	Calls          int // calls up with audio both ways
	SetupFailed    int
	HotlineCores   float64
	LoadgenCores   float64
	MachineBusy    float64 // share of all CPUs busy
	RcvbufErrors   uint64
	Window         WindowStats
	RSS            int64
	HotlineCPU     time.Duration
	PacketsRelayed uint64
	// RingFull and RecDropped are read from Hotline's metrics at the
	// window's start and end (the step's calls' set-up excluded): the
	// packets its kernel relay relayed without the recorders' copy because
	// the ring to user space was full, and the packets its recorders
	// dropped (those among them).
	// Neither fails the step (figure 2c counts the ramp's drops); both
	// say what a failing step did.
	RingFull, RecDropped uint64
}

func (s *concStep) pass() bool {
	return s.SetupFailed == 0 && s.HotlineCores < cpuLimitCores && s.RcvbufErrors == 0 &&
		s.Window.Lost() == 0 && s.Window.MaxLag < maxPacerLag
}

func (s *concStep) why() string {
	var w []string
	if s.SetupFailed > 0 {
		w = append(w, fmt.Sprintf("%d calls failed to set up", s.SetupFailed))
	}
	if s.HotlineCores >= cpuLimitCores {
		w = append(w, fmt.Sprintf("Hotline at %.2f cores", s.HotlineCores))
	}
	if s.RcvbufErrors > 0 {
		w = append(w, fmt.Sprintf("%d UDP RcvbufErrors", s.RcvbufErrors))
	}
	if l := s.Window.Lost(); l > 0 {
		w = append(w, fmt.Sprintf("%d of %d packets lost", l, s.Window.Sent))
	}
	if s.Window.MaxLag >= maxPacerLag {
		w = append(w, fmt.Sprintf("generator behind by %s", s.Window.MaxLag.Round(time.Millisecond)))
	}
	if len(w) == 0 {
		return "ok"
	}
	if s.RingFull > 0 {
		w = append(w, fmt.Sprintf("%d packets relayed without the recorders' copy (kernel relay's ring full)", s.RingFull))
	}
	if s.RecDropped > 0 {
		w = append(w, fmt.Sprintf("%d packets dropped by recorders", s.RecDropped))
	}
	return strings.Join(w, "; ")
}

// relayRun is one measurement of the bare relay.
type relayRun struct {
	Pairs   int
	CPU     time.Duration
	Window  WindowStats
	PerPkt  time.Duration
	Cores   float64
	Hotline time.Duration // Hotline's per-packet CPU in the same repetition
}

// concRep is one repetition of the concurrent-call ramp.
type concRep struct {
	Steps         []concStep
	Max           int // highest passing step (0: none)
	Limit         string
	Bridged       int
	AgentAnswered int
	Uploaded      int
	RecDropped    uint64 // packets recorders dropped (hand-off buffer full)
	RecordsRead   int
	RecordingErr  string
	Relay         *relayRun
}

// best is the step figure 3, 5 and 6 are taken at: the highest passing
// step, or the first one if none passed.
func (r *concRep) best() *concStep {
	var b *concStep
	for i := range r.Steps {
		if r.Steps[i].pass() {
			b = &r.Steps[i]
		}
	}
	if b == nil && len(r.Steps) > 0 {
		b = &r.Steps[0]
	}
	return b
}

// results is everything measured, for the report.
type results struct {
	Started    time.Time
	Finished   time.Time
	Cfg        benchConfig
	Machine    machineInfo
	RateReps   []float64 // figure 1, file backend
	RateLimits []string
	RateSteps  [][]rateStep
	// Overload are the steps at twice the figure-1 rate (figure 1o; one,
	// or one per repetition at Cfg.OverloadCPS): refused calls apart
	// from the admitted calls' failures.
	Overload   []rateStep
	MinIORate  []float64
	MinIOSteps []rateStep
	MinIONote  string
	Latency    map[int][]rateStep // 50, 80 -> steps
	Conc       []concRep
	Routing    string
	RoutingErr string
	Notes      []string
	IdleRSS    int64
	SIPp       *sippResults
	Cluster    *clusterResults
	Xfer       *xferResults
}

// rateTarget is what a call-rate step loads: one Hotline, or the nodes
// of a cluster taken together.
type rateTarget interface {
	backlog(ctx context.Context) (backlog, error)
	waitIdle(ctx context.Context, bound time.Duration, uploads bool) (backlog, error)
	waitUploads(ctx context.Context, base uint64, want int, bound, stall time.Duration) (backlog, error)
	usage() (cpu time.Duration, rss int64)
}

// refusals reads h's refusals for a step's start or end: one Hotline's
// by reason and the 503s' times (stepMetrics, one scrape, as the SIPp
// steps read them), the cluster's nodes' by reason only; nil maps when
// h has neither or its metrics cannot be read.
func refusals(ctx context.Context, h rateTarget) stepMetrics {
	switch t := h.(type) {
	case interface {
		stepMetrics(ctx context.Context) stepMetrics
	}:
		return t.stepMetrics(ctx)
	case interface {
		refusedByReason(ctx context.Context) map[string]float64
	}:
		return stepMetrics{reasons: t.refusedByReason(ctx)}
	}
	return stepMetrics{}
}

// driver runs the benchmark.
type driver struct {
	cfg      benchConfig
	log      *slog.Logger
	pr       *procs
	work     string
	repo     string
	bin      string
	media    *mediaEngine
	res      *results
	deadline time.Time
}

func (d *driver) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	d.res.Notes = append(d.res.Notes, s)
	d.log.Warn(s)
}

func (d *driver) timeLeft() time.Duration { return time.Until(d.deadline) }

// run measures everything and fills d.res.
func (d *driver) run(ctx context.Context) error {
	d.res.Started = time.Now()
	d.res.Machine = collectMachine(ctx, d.repo)
	cp := waitCheapCreates(ctx, d.work, min(createWaitMax, d.timeLeft()/4), d.log)
	d.res.Machine.Creates = &cp
	d.log.Info("building hotline")
	d.bin = filepath.Join(d.work, "hotline")
	build := exec.CommandContext(ctx, "go", "build", "-o", d.bin, "./cmd/hotline")
	build.Dir = d.repo
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/hotline: %w\n%s", err, out)
	}

	if d.cfg.GoFigures {
		if err := d.goFigures(ctx); err != nil {
			d.note("the Go generator's figures ended early: %v", err)
		}
	}
	if d.cfg.SIPpFigures && ctx.Err() == nil {
		d.sippFigures(ctx, d.cfg.SIPp)
	}
	if d.cfg.ClusterFigures && ctx.Err() == nil {
		if err := d.clusterFigures(ctx); err != nil {
			d.note("the three-node figures ended early: %v", err)
		}
	}
	if d.cfg.XferFigures && ctx.Err() == nil {
		if err := d.xferFigures(ctx); err != nil {
			d.note("the transfer and monitoring figures ended early: %v", err)
		}
	}
	d.res.Finished = time.Now()
	return ctx.Err()
}

// goFigures measures with the Go generator (figures 1 to 7).
func (d *driver) goFigures(ctx context.Context) error {
	if d.cfg.OverloadCPS <= 0 {
		d.log.Info("figure 7: routing benchmark")
		d.res.Routing, d.res.RoutingErr = d.routingBench(ctx)
	}
	// The budget is the load figures': the routing benchmarks have their
	// own bound (RoutingTimeout).
	d.deadline = time.Now().Add(d.cfg.Budget)

	media, err := newMediaEngine(4, 4*d.cfg.Agents+1024)
	if err != nil {
		return err
	}
	mctx, stopMedia := context.WithCancel(ctx)
	var mwg sync.WaitGroup
	mwg.Add(1)
	go func() { defer mwg.Done(); media.run(mctx) }()
	defer func() { stopMedia(); mwg.Wait() }()
	d.media = media

	h, g, err := d.startHotline(ctx, "file", d.tuned(hotlineOpts{Agents: d.cfg.Agents, Pprof: true}))
	if err != nil {
		return err
	}
	defer g.close()
	if rss, err := ProcRSS(h.PID()); err == nil {
		d.res.IdleRSS = rss
	}

	if d.cfg.OverloadCPS > 0 {
		d.overloadOnly(ctx, h, g)
		g.close()
		h.stop(15 * time.Second)
		return nil
	}
	d.figure1(ctx, h, g)
	d.figure4(ctx, h, g)
	d.figure2(ctx, h, g)
	g.close()
	h.stop(15 * time.Second)

	if d.cfg.MinIO {
		if err := d.minio(ctx); err != nil {
			d.res.MinIONote = "not measured: " + err.Error()
			d.note("MinIO run failed: %v", err)
		}
	}
	return nil
}

// startHotline starts Hotline in work/name and registers every agent.
// tuned gives o the settings under comparison (-overload, -rtp-readers,
// -rtp-kernel, -hotline-log, -hotline-env): the Hotlines of the figures
// that measure them, not the cluster's or the transfer part's.
func (d *driver) tuned(o hotlineOpts) hotlineOpts {
	o.Overload, o.RTPReaders, o.RTPKernel = d.cfg.Overload, d.cfg.RTPReaders, d.cfg.RTPKernel
	o.LogLevel, o.Env = d.cfg.HotlineLog, d.cfg.HotlineEnv
	return o
}

func (d *driver) startHotline(ctx context.Context, name string, o hotlineOpts) (*hotlineProc, *loadGen, error) {
	d.log.Info("starting hotline", "backend", name, "agents", o.Agents)
	h, err := startHotline(ctx, d.pr, d.bin, filepath.Join(d.work, name), o)
	if err != nil {
		return nil, nil, err
	}
	g, err := newLoadGen(d.media, h.sip, "1900", d.log.With("component", "sipgo"))
	if err != nil {
		return nil, nil, err
	}
	users := make([]string, o.Agents)
	for i := range users {
		users[i] = agentName(i)
	}
	t0 := time.Now()
	failed, err := g.registerAgents(ctx, users, agentPassword, 64)
	if failed > 0 {
		g.close()
		return nil, nil, fmt.Errorf("%d agents failed to register: %w", failed, err)
	}
	n, err := h.availableAgents(ctx)
	if err != nil || n != o.Agents {
		g.close()
		return nil, nil, fmt.Errorf("%d of %d agents available after registering (%v)", n, o.Agents, err)
	}
	d.log.Info("agents registered", "agents", n, "took", time.Since(t0).Round(time.Millisecond))
	took, share := settle(ctx, h, 10*time.Second)
	d.log.Info("hotline settled after the registrations", "took", took.Round(time.Millisecond), "cpu_cores", fmt.Sprintf("%.3f", share))
	return h, g, nil
}

// quietCores is the CPU (cores) under which Hotline counts as settled.
const quietCores = 0.05

// settle waits, up to bound, until Hotline's CPU over a quarter of a
// second is under quietCores, so that the first step does not start
// while it still handles what the agents' registrations set off (their
// logins' events written, their state saved). It returns how long that
// took and the CPU (cores) of the last window.
func settle(ctx context.Context, h interface {
	usage() (time.Duration, int64)
}, bound time.Duration) (time.Duration, float64) {
	const window = 250 * time.Millisecond
	t0 := time.Now()
	for {
		c0, _ := h.usage()
		select {
		case <-ctx.Done():
			return time.Since(t0), 0
		case <-time.After(window):
		}
		c1, _ := h.usage()
		share := (c1 - c0).Seconds() / window.Seconds()
		if share < quietCores || time.Since(t0) >= bound {
			return time.Since(t0), share
		}
	}
}

// rateStep launches calls at rate for StepDur, each held Hold, and checks
// every bridged call's recording got uploaded.
func (d *driver) rateStep(ctx context.Context, h rateTarget, g *loadGen, rate float64) rateStep {
	s := rateStep{Rate: rate, Errors: map[string]int{}}
	if w, ok := h.(interface {
		waitNotShedding(ctx context.Context, bound time.Duration)
	}); ok {
		// A step starts from a settled Hotline: not still shedding (for
		// its hold and release ramp), nor holding new calls to the rate
		// learned (10 s), after the step before overloaded it.
		w.waitNotShedding(ctx, 15*time.Second)
	}
	m0 := refusals(ctx, h)
	b0, err := h.backlog(ctx)
	if err != nil {
		s.UploadErr = err.Error()
	}
	up0 := g.agentUp.Load()
	cpu0, idleRSS := h.usage()
	s.IdleRSS = idleRSS
	count := max(int(math.Round(rate*d.cfg.StepDur.Seconds())), 1)
	interval := time.Duration(float64(time.Second) / rate)
	res := make([]callResult, count)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range count {
		at := start.Add(time.Duration(i) * interval)
		if dl := time.Until(at); dl > 0 {
			time.Sleep(dl)
		} else if -dl > s.LaunchLag {
			s.LaunchLag = -dl
		}
		if ctx.Err() != nil {
			res = res[:i]
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = g.call(ctx, holdSpec{For: d.cfg.Hold})
		}()
	}
	_, s.RSS = h.usage()
	wg.Wait()
	cpu1, _ := h.usage()
	s.HotlineCPU = cpu1 - cpu0
	s.Elapsed = time.Since(start)
	if m0.reasons != nil || m0.refusal != nil {
		m1 := refusals(ctx, h)
		if m0.reasons != nil {
			s.RefusedBy = reasonDelta(m0.reasons, m1.reasons)
		}
		if m0.refusal != nil {
			s.HotlineRefuse99 = bucketQuantile(m0.refusal, m1.refusal, 0.99)
		}
	}
	for _, r := range res {
		s.Attempted++
		if r.Refused {
			s.Refused++
			s.RefuseTimes = append(s.RefuseTimes, r.ToRefuse)
			continue
		}
		if !r.OK {
			s.Failed++
			s.Errors[r.Err]++
		}
		if r.Bridged {
			s.Bridged++
			if r.To180 == 0 {
				s.Queued++
			}
		}
		if r.To180 > 0 {
			s.To180 = append(s.To180, r.To180)
		}
		if r.ToAgent > 0 {
			s.ToAgent = append(s.ToAgent, r.ToAgent)
		}
		if r.To200 > 0 {
			s.To200 = append(s.To200, r.To200)
		}
	}
	b1, err := h.waitIdle(ctx, 30*time.Second, true)
	s.AgentAnswered = int(g.agentUp.Load() - up0)
	s.countReached(res)
	if err == nil {
		b1, err = h.waitUploads(ctx, b0.Uploaded, s.Expected, 10*time.Second, 3*time.Second)
		short := err != nil && b1.Files == 0 && b1.Recording == 0
		if cr, ok := h.(callRecorder); ok && (short || s.Errors[errHungUpBeforeAgent] > 0) {
			// The generator's agents and Hotline disagree (fewer
			// recordings than acknowledged answers, with none left to
			// store; or callers that hung up before an agent's answer was
			// bridged): Hotline's call records say which calls it connected.
			if s.judgeByRecords(ctx, cr, res) > 0 {
				if int(b1.Uploaded-b0.Uploaded) >= s.Expected {
					err = nil
				} else if err == nil {
					b1, err = h.waitUploads(ctx, b0.Uploaded, s.Expected, 10*time.Second, 3*time.Second)
				}
			}
		}
	}
	if err != nil && s.UploadErr == "" {
		s.UploadErr = err.Error()
	}
	s.Uploaded = int(b1.Uploaded - b0.Uploaded)
	if n := g.stopStrayStreams(); n > 0 {
		d.log.Warn("agent calls Hotline never hung up", "calls", n)
	}
	d.log.Info("rate step", "cps", rate, "attempted", s.Attempted, "refused", s.Refused, "refused_by", s.RefusedBy, "failed", s.Failed,
		"uploaded", s.Uploaded, "expected", s.Expected, "by_records", s.ByRecords, "agent_answered", s.AgentAnswered, "bridged", s.Bridged, "no_180", s.Queued,
		"pass", s.pass(), "why", s.why())
	if s.UploadErr != "" {
		// Let a struggling Hotline settle before the next step.
		_, _ = h.waitIdle(ctx, 30*time.Second, true)
	}
	return s
}

// searchRate finds the highest passing call rate: a doubling ramp from
// RateStart (or around hint), then bisection.
func (d *driver) searchRate(ctx context.Context, h rateTarget, g *loadGen, hint float64, iters int) (float64, string, []rateStep) {
	var steps []rateStep
	round := func(r float64) float64 { return max(math.Round(r/10)*10, 10) }
	try := func(r float64) bool {
		s := d.rateStep(ctx, h, g, r)
		steps = append(steps, s)
		return s.pass()
	}
	var lo, hi float64
	if hint <= 0 {
		for r := d.cfg.RateStart; r <= d.cfg.RateCap && ctx.Err() == nil; r *= 2 {
			if !try(round(r)) {
				hi = round(r)
				break
			}
			lo = round(r)
		}
	} else {
		for r, i := round(hint*0.7), 0; i < 3 && ctx.Err() == nil; r, i = round(r/2), i+1 {
			if try(r) {
				lo = r
				break
			}
			hi = r
		}
		if up := round(hint * 1.3); lo > 0 && hi == 0 && ctx.Err() == nil {
			if try(up) {
				lo = up
			} else {
				hi = up
			}
		}
	}
	limit := ""
	if hi == 0 {
		if lo >= d.cfg.RateCap {
			limit = fmt.Sprintf("search capped at %.0f CPS", d.cfg.RateCap)
		}
		return lo, limit, steps
	}
	for range iters {
		if ctx.Err() != nil || hi-lo < 20 || d.timeLeft() < time.Minute {
			break
		}
		mid := round((lo + hi) / 2)
		if try(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	last := steps[len(steps)-1]
	for i := len(steps) - 1; i >= 0; i-- {
		if !steps[i].pass() && steps[i].Rate == hi {
			last = steps[i]
			break
		}
	}
	return lo, fmt.Sprintf("%.0f CPS failed: %s", hi, last.why()), steps
}

func (d *driver) figure1(ctx context.Context, h *hotlineProc, g *loadGen) {
	hint := 0.0
	for rep := range d.cfg.Reps {
		if ctx.Err() != nil || (rep > 0 && d.timeLeft() < 6*time.Minute) {
			if rep > 0 {
				d.note("figure 1: %d of %d repetitions (time budget)", rep, d.cfg.Reps)
			}
			break
		}
		d.log.Info("figure 1: call rate", "rep", rep+1)
		best, limit, steps := d.searchRate(ctx, h, g, hint, d.cfg.SearchIters)
		if rep == 0 {
			hint = best
		}
		d.res.RateReps = append(d.res.RateReps, best)
		d.res.RateLimits = append(d.res.RateLimits, limit)
		d.res.RateSteps = append(d.res.RateSteps, steps)
	}
	// Figure 1o: twice the sustainable rate, for one step. Overload
	// control is to refuse the excess at once and keep the admitted calls
	// good.
	if mr := d.maxRate(); !math.IsNaN(mr) && mr > 0 && ctx.Err() == nil && d.timeLeft() > time.Minute {
		d.log.Info("figure 1o: overload", "cps", 2*mr)
		s := d.rateStep(ctx, h, g, 2*mr)
		d.res.Overload = append(d.res.Overload, s)
	}
}

// overloadOnly takes figure 1o only: Reps steps at cfg.OverloadCPS.
func (d *driver) overloadOnly(ctx context.Context, h *hotlineProc, g *loadGen) {
	for rep := range d.cfg.Reps {
		if ctx.Err() != nil || d.timeLeft() < 30*time.Second {
			break
		}
		d.log.Info("figure 1o: overload at a fixed rate", "rep", rep+1, "cps", d.cfg.OverloadCPS)
		s := d.rateStep(ctx, h, g, d.cfg.OverloadCPS)
		d.res.Overload = append(d.res.Overload, s)
		d.log.Info("figure 1o step", "rep", rep+1, "refused", s.Refused, "reasons", s.RefusedBy, "admitted", s.Attempted-s.Refused, "failed", s.Failed,
			"to503_p50", DurationPercentile(s.RefuseTimes, 50), "to503_p90", DurationPercentile(s.RefuseTimes, 90),
			"to503_p99", DurationPercentile(s.RefuseTimes, 99), "hotline_503_p99", s.HotlineRefuse99, "to200_p50", DurationPercentile(s.To200, 50),
			"to200_p90", DurationPercentile(s.To200, 90), "to200_p99", DurationPercentile(s.To200, 99), "hotline_cpu_s", s.HotlineCPU)
		// Let the calls of the step end and the detector settle.
		select {
		case <-ctx.Done():
		case <-time.After(d.cfg.Hold + 3*time.Second):
		}
	}
}

func (d *driver) maxRate() float64 {
	return Summarize(d.res.RateReps).Median
}

func (d *driver) figure4(ctx context.Context, h *hotlineProc, g *loadGen) {
	d.res.Latency = map[int][]rateStep{}
	mr := d.maxRate()
	if math.IsNaN(mr) || mr <= 0 {
		d.note("figure 4 skipped: no call rate passed")
		return
	}
	for rep := range d.cfg.Reps {
		if ctx.Err() != nil || (rep > 0 && d.timeLeft() < 5*time.Minute) {
			break
		}
		for _, pct := range []int{50, 80} {
			r := math.Max(math.Round(mr*float64(pct)/100), 1)
			d.log.Info("figure 4: setup latency", "rep", rep+1, "percent", pct, "cps", r)
			d.res.Latency[pct] = append(d.res.Latency[pct], d.rateStep(ctx, h, g, r))
		}
	}
}

// figure2 ramps up long recorded calls with audio both ways and measures
// Hotline at each step; figures 3, 5 and 6 come from the same steps.
func (d *driver) figure2(ctx context.Context, h *hotlineProc, g *loadGen) {
	setupRate := 300.0
	if mr := d.maxRate(); !math.IsNaN(mr) && mr > 0 {
		setupRate = math.Min(math.Max(mr*0.5, 50), 400)
	}
	for rep := range d.cfg.Reps {
		if ctx.Err() != nil || (rep > 0 && d.timeLeft() < 3*time.Minute) {
			if rep > 0 {
				d.note("figure 2: %d of %d repetitions (time budget)", rep, d.cfg.Reps)
			}
			break
		}
		d.log.Info("figure 2: concurrent recorded calls", "rep", rep+1, "setup_cps", setupRate)
		// The ramp starts from a settled Hotline, as a rate step does:
		// figure 4's 80% step may have overloaded it, and a rate learned
		// then (held 10 s) refused the ramp's first calls (s33-make-bench:
		// 261 of 500, figure 2 = 0).
		h.waitNotShedding(ctx, 15*time.Second)
		r := d.concRamp(ctx, h, g, setupRate)
		if b := r.best(); b != nil && ctx.Err() == nil {
			rr, err := d.bareRelay(ctx, max(b.Calls, 1), b)
			if err != nil {
				d.note("bare relay run failed: %v", err)
			} else {
				r.Relay = rr
			}
		}
		d.res.Conc = append(d.res.Conc, r)
	}
}

func (d *driver) concRamp(ctx context.Context, h *hotlineProc, g *loadGen, setupRate float64) concRep {
	var rep concRep
	// Count only this ramp's call records.
	if err := setAside(filepath.Join(h.dir, "recordings", "recordings"), filepath.Join(h.dir, "set-aside")); err != nil {
		d.note("figure 2: %v", err)
	}
	b0, _ := h.backlog(ctx)
	up0 := g.agentUp.Load()
	release := make(chan struct{})
	var established, failed, bridged atomic.Int64
	var wg sync.WaitGroup
	launched := 0
	pid := h.PID()
	steps := append([]int(nil), d.cfg.ConcSteps...)
	for si := 0; si < len(steps); si++ {
		target := steps[si]
		if n := len(rep.Steps); n > 0 {
			// Do not jump far beyond what the CPU allows: an overloaded
			// Hotline takes long to recover and measures nothing.
			target = nextConcStep(rep.Steps[n-1], target, runtime.NumCPU())
		}
		if target > d.cfg.Agents {
			rep.Limit = fmt.Sprintf("agent pool (%d agents)", d.cfg.Agents)
			break
		}
		if ctx.Err() != nil || d.timeLeft() < d.cfg.Measure+40*time.Second {
			rep.Limit = "time budget"
			break
		}
		failedBefore := failed.Load()
		interval := time.Duration(float64(time.Second) / setupRate)
		start := time.Now()
		for i := 0; launched < target; i++ {
			if dl := time.Until(start.Add(time.Duration(i) * interval)); dl > 0 {
				time.Sleep(dl)
			}
			launched++
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := g.call(ctx, holdSpec{For: 10 * time.Minute, Until: release, OnAnswer: func() { established.Add(1) }})
				if r.Bridged {
					bridged.Add(1)
				}
				if !r.OK {
					failed.Add(1)
				}
			}()
		}
		// Wait for the new calls to be up (or failed).
		deadline := time.Now().Add(20 * time.Second)
		for int(established.Load()+failed.Load()) < launched && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Second) // let every leg latch and settle
		st := concStep{Calls: int(established.Load() - failed.Load()), SetupFailed: int(failed.Load() - failedBefore)}
		cpu0, _ := ProcCPU(pid)
		self0, _ := ProcCPU(os.Getpid())
		busy0, tot0, _ := MachineCPU()
		rcv0, _ := UDPRcvbufErrors()
		k0 := h.mediaCounts(ctx)
		wstart := d.media.beginWindow()
		t0 := time.Now()
		time.Sleep(d.cfg.Measure)
		cpu1, _ := ProcCPU(pid)
		self1, _ := ProcCPU(os.Getpid())
		busy1, tot1, _ := MachineCPU()
		rcv1, _ := UDPRcvbufErrors()
		el := time.Since(t0)
		k1 := h.mediaCounts(ctx)
		st.RingFull, st.RecDropped = k1.sub(k0)
		st.RSS, _ = ProcRSS(pid)
		st.Window = d.media.endWindow(wstart)
		st.HotlineCPU = cpu1 - cpu0
		st.HotlineCores = st.HotlineCPU.Seconds() / el.Seconds()
		st.LoadgenCores = (self1 - self0).Seconds() / el.Seconds()
		if tot1 > tot0 {
			st.MachineBusy = float64(busy1-busy0) / float64(tot1-tot0)
		}
		st.RcvbufErrors = rcv1 - rcv0
		st.PacketsRelayed = st.Window.Received
		rep.Steps = append(rep.Steps, st)
		d.log.Info("concurrency step", "calls", st.Calls, "hotline_cores", fmt.Sprintf("%.2f", st.HotlineCores),
			"loadgen_cores", fmt.Sprintf("%.2f", st.LoadgenCores), "machine_busy", fmt.Sprintf("%.0f%%", 100*st.MachineBusy),
			"rcvbuf_errors", st.RcvbufErrors, "ring_full", st.RingFull, "rec_dropped", st.RecDropped, "sent", st.Window.Sent, "lost", st.Window.Lost(),
			"delay_p99_us", st.Window.Delay.Percentile(99), "pacer_lag", st.Window.MaxLag.Round(time.Microsecond),
			"pass", st.pass(), "why", st.why())
		if !st.pass() {
			rep.Limit = st.why()
			break
		}
		rep.Max = st.Calls
	}
	close(release)
	wg.Wait()
	rep.Bridged = int(bridged.Load())
	b1, err := h.waitIdle(ctx, 90*time.Second, true)
	rep.AgentAnswered = int(g.agentUp.Load() - up0)
	if err == nil {
		b1, err = h.waitUploads(ctx, b0.Uploaded, rep.Bridged, 30*time.Second, 5*time.Second)
	}
	if err != nil {
		rep.RecordingErr = err.Error()
	}
	rep.Uploaded = int(b1.Uploaded - b0.Uploaded)
	if n := g.stopStrayStreams(); n > 0 {
		d.note("figure 2: %d agent calls were never hung up by Hotline", n)
	}
	rep.RecDropped, rep.RecordsRead = d.recorderDrops(filepath.Join(h.dir, "recordings"))
	// The recordings are checked: out of the next repetition's way.
	if err := setAside(filepath.Join(h.dir, "recordings", "recordings"), filepath.Join(h.dir, "set-aside")); err != nil {
		d.note("figure 2: %v", err)
	}
	return rep
}

// recorderDrops sums the packets Hotline's recorders dropped, from the
// call records (JSON) stored beside the recordings.
func (d *driver) recorderDrops(dir string) (dropped uint64, records int) {
	rc := readRecords(dir, 0)
	return rc.Dropped, rc.Records
}

// bareRelay runs the bare relay with pairs calls' worth of audio for the
// same window length as a concurrency step.
func (d *driver) bareRelay(ctx context.Context, pairs int, hot *concStep) (*relayRun, error) {
	d.log.Info("figure 3: bare relay", "pairs", pairs)
	c, ports, err := startRelay(d.pr, pairs, filepath.Join(d.work, "relay.log"))
	if err != nil {
		return nil, err
	}
	defer c.stop(5 * time.Second)
	var ids []uint32
	defer func() {
		for _, id := range ids {
			d.media.stop(id)
		}
	}()
	lo := [4]byte{127, 0, 0, 1}
	for i := range pairs {
		for side, port := range []int{ports[2*i], ports[2*i+1]} {
			id, err := d.media.start(side, i, netip.AddrPortFrom(netip.AddrFrom4(lo), uint16(port)))
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
	}
	time.Sleep(time.Second)
	cpu0, _ := ProcCPU(c.PID())
	wstart := d.media.beginWindow()
	t0 := time.Now()
	time.Sleep(d.cfg.Measure)
	cpu1, _ := ProcCPU(c.PID())
	el := time.Since(t0)
	w := d.media.endWindow(wstart)
	r := &relayRun{Pairs: pairs, CPU: cpu1 - cpu0, Window: w, Cores: (cpu1 - cpu0).Seconds() / el.Seconds()}
	if w.Received > 0 {
		r.PerPkt = r.CPU / time.Duration(w.Received)
	}
	if hot != nil && hot.PacketsRelayed > 0 {
		r.Hotline = hot.HotlineCPU / time.Duration(hot.PacketsRelayed)
	}
	return r, ctx.Err()
}

// minio measures the call rate with recordings uploaded to MinIO.
func (d *driver) minio(ctx context.Context) error {
	if d.timeLeft() < 40*time.Second {
		return errors.New("time budget exhausted")
	}
	dir := filepath.Join(d.work, "minio")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	d.log.Info("starting minio")
	m, endpoint, err := startMinIO(ctx, d.pr, dir)
	if err != nil {
		return err
	}
	defer m.stop(10 * time.Second)
	agents := d.cfg.Agents
	if mr := d.maxRate(); !math.IsNaN(mr) && mr > 0 {
		agents = min(agents, max(int(mr*1.3*(d.cfg.Hold.Seconds()+1)*answerMargin), 200))
	}
	h, g, err := d.startHotline(ctx, "s3", d.tuned(hotlineOpts{Agents: agents, S3Endpoint: endpoint}))
	if err != nil {
		return err
	}
	defer h.stop(15 * time.Second)
	defer g.close()
	mr := d.maxRate()
	if math.IsNaN(mr) || mr <= 0 {
		mr = d.cfg.RateStart
	}
	if d.cfg.Quick || d.timeLeft() < 2*time.Minute {
		r := math.Round(mr * 0.8)
		s := d.rateStep(ctx, h, g, r)
		d.res.MinIOSteps = append(d.res.MinIOSteps, s)
		if s.pass() {
			d.res.MinIORate = append(d.res.MinIORate, r)
			d.res.MinIONote = fmt.Sprintf("one step at 80%% of the file-backend rate passed (%s); not searched further", s.why())
		} else {
			d.res.MinIONote = fmt.Sprintf("one step at %.0f CPS (80%% of the file-backend rate) failed: %s", r, s.why())
		}
		return nil
	}
	best, limit, steps := d.searchRate(ctx, h, g, mr, max(d.cfg.SearchIters-1, 1))
	d.res.MinIORate = append(d.res.MinIORate, best)
	d.res.MinIOSteps = steps
	d.res.MinIONote = "one search around the file-backend rate; limit: " + limit
	return nil
}

// routingBench runs the routing package's benchmarks.
func (d *driver) routingBench(ctx context.Context) (string, string) {
	args := append([]string{"test", "-run", "^$", "-bench", "."}, d.cfg.RoutingArgs...)
	args = append(args, "./routing/...") // the benchmarks live in routing/acd since the split
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RoutingTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = d.repo
	// go test runs the test binaries as its children: on timeout or
	// Ctrl-C, kill the whole process group, not only go (an orphaned
	// test binary kept running and held the output pipe open).
	killGroupOnCancel(cmd)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	text := "$ go " + strings.Join(args, " ") + "\n" + string(out)
	if err != nil {
		return text, err.Error()
	}
	return text, ""
}

// machineInfo describes where the benchmark ran.
type machineInfo struct {
	Host, CPU, Kernel, GoVersion, Commit string
	Cores                                int
	MemBytes                             int64
	Creates                              *createProbe // at the start of the run, in its work directory
}

// createProbeFiles is how many files a create probe makes: enough for a
// median, few enough (about 10 ms on a quiet disk) not to matter.
const createProbeFiles = 400

func collectMachine(ctx context.Context, repo string) machineInfo {
	m := machineInfo{Cores: runtime.NumCPU(), CPU: "unknown", Kernel: "unknown", GoVersion: runtime.Version(), Commit: "unknown"}
	m.Host, _ = os.Hostname()
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = parseCPUModel(data)
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemBytes, _ = parseStatusKB(data, "MemTotal")
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	run := func(name string, args ...string) string {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = repo
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if v := run("go", "version"); v != "" {
		m.GoVersion = v
	}
	if c := run("git", "rev-parse", "--short=12", "HEAD"); c != "" {
		m.Commit = c
		if run("git", "status", "--porcelain", "--untracked-files=no") != "" {
			m.Commit += " (with uncommitted changes)"
		}
	}
	return m
}

// nextConcStep is the next number of concurrent calls to try after last:
// the planned one, unless CPU use at last (Hotline's against its limit,
// and the whole machine's) predicts a failure well before it; then a
// step 15% or up to the predicted limit beyond last, whichever is larger.
func nextConcStep(last concStep, planned, cpus int) int {
	n := float64(last.Calls)
	if n <= 0 || last.HotlineCores <= 0 {
		return planned
	}
	limit := n * cpuLimitCores / last.HotlineCores
	if both := last.HotlineCores + last.LoadgenCores; both > 0 {
		limit = math.Min(limit, n*float64(cpus)*0.95/both)
	}
	next := math.Max(limit*1.05, n*1.15)
	next = math.Ceil(next/50) * 50
	return min(planned, int(next))
}
