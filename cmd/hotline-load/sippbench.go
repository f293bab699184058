package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"hotline/internal/sippstat"
	"hotline/metrics"
)

// The SIPp figures (issue 15): what a user measuring Hotline with SIPp
// sees. Callers are SIPp UACs (bench/sipp/caller.xml: 2-second calls,
// PCMU audio streamed with rtp_stream), agents SIPp UASs
// (bench/sipp/agent.xml, -rtp_echo) registered with digest auth from an
// injection file (bench/sipp/register.xml). Hotline records every call to
// the file backend.

// sippConfig is how thoroughly the SIPp figures are measured.
type sippConfig struct {
	Agents       int     // agents registered through SIPp
	AgentsPerUAS int     // agents one agent SIPp answers for
	RatePerUAC   float64 // calls/s one caller SIPp places at most
	CallsPerUAC  int     // calls one caller SIPp holds at most (concurrency ramp)
	Hold         time.Duration
	StepDur      time.Duration // how long a rate step places calls
	RateStart    float64
	RateCap      float64
	MaxSteps     int // rate steps of the search, at most
	SearchIters  int // bisection steps
	ConcSteps    []int
	ConcRate     float64       // calls/s placing the concurrency ramp's calls
	Measure      time.Duration // measurement window of a concurrency step
	Profile      time.Duration // CPU profile length
	// DirectRate is the rate of figure S0, the SIPps alone (0: none).
	DirectRate float64
	Budget     time.Duration
	// Reserve is the part of Budget the rate search leaves to the
	// overload step, the profile and the concurrency ramp.
	Reserve time.Duration
}

func defaultSIPpConfig(quick bool) sippConfig {
	// The agent pool must carry twice the S1 target (S3) with the 2 s
	// hold: 800 calls/s hold 1,600 agents, plus setup and teardown. With
	// fewer, calls admitted at 480-720 calls/s queue for a free agent, and
	// the step measures the pool, not Hotline (quick runs had 1,000 up to
	// the session of 2026-12-05 evening).
	// The quick search doubles from 100 so that it tries S1's target
	// itself, then bisects twice: 100, 200, 400, then 800 and 600, or 300
	// and 350 or 250. From 60 it stepped 240 → 480 → 360 and could not
	// tell whether 400 passes.
	if quick {
		return sippConfig{Agents: 2600, AgentsPerUAS: 650, RatePerUAC: 100, CallsPerUAC: 400, Hold: 2 * time.Second,
			StepDur: 4 * time.Second, RateStart: s1Target / 4, RateCap: 1000, MaxSteps: 5, SearchIters: 2,
			ConcSteps: []int{150, 300, 600}, ConcRate: 100, Measure: 3 * time.Second, Profile: 5 * time.Second, DirectRate: s1Target,
			Budget: 5*time.Minute + 40*time.Second, Reserve: 190 * time.Second}
	}
	// 2,600 agents: the ramp's last step (2,000 calls) stays within 80% of them.
	return sippConfig{Agents: 2600, AgentsPerUAS: 650, RatePerUAC: 100, CallsPerUAC: 400, Hold: 2 * time.Second,
		StepDur: 8 * time.Second, RateStart: 50, RateCap: 1000, MaxSteps: 9, SearchIters: 3,
		ConcSteps: []int{250, 500, 1000, 1500, 2000}, ConcRate: 100, Measure: 5 * time.Second, Profile: 8 * time.Second, DirectRate: s1Target,
		Budget: 7*time.Minute + 10*time.Second, Reserve: 250 * time.Second}
}

// sippRateStep is one step of SIPp callers at a rate.
type sippRateStep struct {
	Rate, Cores       float64 // offered calls/s; Hotline's cores during the step
	Planned, Created  int
	Answered, Refused int // 200 (response time 1), 503 (response time 2)
	Rang              int // 180 (response time 3): an agent rang before the answer
	Failed            int // SIPp's failed calls: admitted, then lost
	AnswerTimes       []time.Duration
	RefuseTimes       []time.Duration // INVITE → 503 of the refused calls
	// HotlineRefuse99 is the p99 of hotline_calls_refused_seconds over
	// the step (arrival in Hotline's SIP socket → the door's 503), as the
	// upper bound of its bucket; 0 when nothing was refused there.
	HotlineRefuse99 time.Duration
	// HotlineAnswer99 is the p99 of hotline_answer_delay_seconds over the
	// step (Hotline's own part of the time to answer: its INVITE handler
	// → the caller's 200, less the agent phone's time to answer), as the
	// upper bound of its bucket; 0 when nothing was observed.
	HotlineAnswer99 time.Duration
	// HotlineSockWait99 is the p99 of hotline_sip_socket_wait_seconds
	// over the step (every SIP datagram's wait in Hotline's UDP socket).
	HotlineSockWait99 time.Duration
	// InviteWait99 and OtherWait99 split it by socket when new INVITEs
	// have one of their own (sip.overload.invite_socket; 0 otherwise).
	InviteWait99, OtherWait99 time.Duration
	// RefusedBy is Hotline's refusals over the step by the overload
	// signal that caused them (hotline_calls_refused_total's reason).
	RefusedBy string
	// LateRefused counts the refusals over the step that are not in
	// hotline_calls_refused_seconds: those of Hotline's INVITE handler,
	// after the door (the door process's or Hotline's reader's) let the
	// call through and it waited for a goroutine.
	LateRefused       int
	Stored, WithAudio int // call records + WAV on disk; with audio on both channels
	RecDropped        uint64
	// What Hotline's call records say of the placed calls (recording
	// starts when an agent is bridged: recording.start: bridge).
	// Connected calls reached an agent; Abandoned calls were answered by
	// Hotline (queued, hold music) but ended before an agent was bridged
	// (the caller hung up, or the queue's maximum wait): not recorded by
	// design, but a caller who never reached an agent, so counted as
	// failed. NoRecord is answered calls Hotline
	// kept no call record of.
	Connected, Abandoned, NoRecord int
	// Unrecorded are Call-IDs connected to an agent without a stored
	// recording; NoAudio those recorded with a silent side although the
	// agent talked at least minTalkBothSides; ShortSilent those with a
	// silent side that talked less (the agent's echo may not have come
	// back before the hang-up: listed, not judged).
	Unrecorded, NoAudio, ShortSilent []string
	// Clipped are recordings with a side holding less than half its
	// audio (recCheck.Clipped).
	Clipped []string
	// AgentDrops are datagrams dropped at the agent SIPps' sockets over
	// the step (their -rtp_echo socket falling behind: a caller's audio
	// that never comes back, a silent agent side in the recording);
	// HotlineDrops those dropped at Hotline's own sockets.
	AgentDrops, HotlineDrops uint64
	UACs, UASs               int
	UACCores                 []float64 // each caller SIPp over the step
	UASCores                 float64   // the agent SIPps together
	Elapsed                  time.Duration
	Err                      string // generator or collection problem
	// NotIdle is set when Hotline still had calls or recordings 30 s
	// after the last caller hung up.
	NotIdle string
	// Seconds are the step's answers and refusals by the second their
	// INVITE was sent in.
	Seconds []sippSecond
}

// sippSecond is one second of a step's calls, by when their INVITE was
// sent: how the answers and refusals went over the step (a trip after a
// queue built shows as slow answers in the first seconds, then refusals).
type sippSecond struct {
	Answered, SlowAnswers int // answered; answered in more than slowAnswer
	Answer99              time.Duration
	Refused, SlowRefusals int // refused (503); in more than slowRefusal
	Refuse99              time.Duration
}

// slowAnswer and slowRefusal are S3's targets for the answer and the 503.
const (
	slowAnswer  = 100 * time.Millisecond
	slowRefusal = 10 * time.Millisecond
)

// stepSeconds sums a step's response times (every caller SIPp's) by the
// second their INVITE was sent in, from the first. The SIPps' clocks
// start within a few milliseconds of each other.
func stepSeconds(rows []sippstat.RTT) []sippSecond {
	first, seen := time.Duration(0), false
	for _, r := range rows {
		if (r.No == 1 || r.No == 2) && (!seen || r.Sent < first) {
			first, seen = r.Sent, true
		}
	}
	if !seen {
		return nil
	}
	var answers, refusals [][]time.Duration
	for _, r := range rows {
		if r.No != 1 && r.No != 2 {
			continue
		}
		i := int((r.Sent - first) / time.Second)
		for len(answers) <= i {
			answers, refusals = append(answers, nil), append(refusals, nil)
		}
		if r.No == 1 {
			answers[i] = append(answers[i], r.Took)
		} else {
			refusals[i] = append(refusals[i], r.Took)
		}
	}
	out := make([]sippSecond, len(answers))
	over := func(ts []time.Duration, d time.Duration) (n int) {
		for _, t := range ts {
			if t > d {
				n++
			}
		}
		return n
	}
	for i := range out {
		out[i] = sippSecond{Answered: len(answers[i]), SlowAnswers: over(answers[i], slowAnswer), Answer99: DurationPercentile(answers[i], 99),
			Refused: len(refusals[i]), SlowRefusals: over(refusals[i], slowRefusal), Refuse99: DurationPercentile(refusals[i], 99)}
	}
	return out
}

// secondsLine is a step's seconds for the log: "answered (slow) p99 /
// refused (slow) p99" each.
func secondsLine(ss []sippSecond) string {
	var b strings.Builder
	for i, x := range ss {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%ds: %d (%d) %s / %d (%d) %s", i, x.Answered, x.SlowAnswers, x.Answer99.Round(time.Millisecond),
			x.Refused, x.SlowRefusals, x.Refuse99.Round(time.Millisecond))
	}
	return b.String()
}

func (s *sippRateStep) lost() int {
	return s.Failed + s.Refused + s.Abandoned + max(s.Planned-s.Created, 0)
}

func (s *sippRateStep) failedShare() float64 {
	if s.Planned == 0 {
		return 1
	}
	return float64(s.lost()) / float64(s.Planned)
}

func (s *sippRateStep) maxUACCores() float64 {
	m := 0.0
	for _, c := range s.UACCores {
		m = math.Max(m, c)
	}
	return m
}

// pass: < 0.1% of the calls failed (refused, and hung up in the queue
// before an agent, included), a call record for every answered call, every
// call connected to an agent stored (WAV and call record) with audio from
// both sides, no caller SIPp saturated.
func (s *sippRateStep) pass() bool {
	return s.Err == "" && s.NotIdle == "" && s.Created > 0 && s.failedShare() < maxFailedShare && s.NoRecord == 0 &&
		len(s.Unrecorded) == 0 && len(s.NoAudio) == 0 && len(s.Clipped) == 0 && s.maxUACCores() < 0.95
}

func (s *sippRateStep) why() string {
	var w []string
	if s.Err != "" {
		w = append(w, s.Err)
	}
	if s.NotIdle != "" {
		w = append(w, s.NotIdle)
	}
	if s.failedShare() >= maxFailedShare {
		by := ""
		if s.RefusedBy != "" {
			by = " by " + s.RefusedBy
		}
		if s.LateRefused > 0 {
			by += fmt.Sprintf("; %d of them by Hotline's handler, after the door", s.LateRefused)
		}
		w = append(w, fmt.Sprintf("%d/%d failed (%d refused%s, %d admitted then failed, %d answered in the queue but never reached an agent, %d not placed)",
			s.lost(), s.Planned, s.Refused, by, s.Failed, s.Abandoned, max(s.Planned-s.Created, 0)))
	}
	if s.NoRecord > 0 {
		w = append(w, fmt.Sprintf("%d answered calls without a call record", s.NoRecord))
	}
	if len(s.Unrecorded) > 0 {
		w = append(w, fmt.Sprintf("%d of %d calls connected to an agent without a recording", len(s.Unrecorded), s.Connected))
	}
	if len(s.NoAudio) > 0 {
		w = append(w, fmt.Sprintf("%d recordings with a silent side (agent talked >= %s)", len(s.NoAudio), minTalkBothSides))
	}
	if len(s.Clipped) > 0 {
		w = append(w, fmt.Sprintf("%d recordings with a side holding less than half its audio", len(s.Clipped)))
	}
	if c := s.maxUACCores(); c >= 0.95 {
		w = append(w, fmt.Sprintf("a caller SIPp saturated (%.2f cores)", c))
	}
	if len(w) == 0 {
		return "ok"
	}
	return strings.Join(w, "; ")
}

// sippConcStep is one step of the SIPp concurrency ramp.
type sippConcStep struct {
	Target, Up, Failed int
	HotlineCores       float64
	SIPpCores          float64 // every SIPp (callers and agents) together
	MachineBusy        float64
	// HotlineDrops are datagrams dropped at Hotline's own sockets over
	// the window; RcvbufErrors the machine's (SIPp's callers never read
	// the audio Hotline sends them: their sockets overflow).
	HotlineDrops uint64
	RcvbufErrors uint64
	// AgentDrops are datagrams dropped at the agent SIPps' sockets (the
	// -rtp_echo socket falling behind: audio that never comes back).
	AgentDrops uint64
	// RecDropped are the packets Hotline's recorders dropped from the
	// step's start (its new calls' set-up included) to its window's end,
	// RingFull those among them its kernel relay relayed without the
	// recorders' copy (hotline_recording_dropped_packets_total,
	// hotline_rtp_kernel_packets_total{result="ring_full"}). As in
	// figure 2, they do not fail the step: S2b counts the ramp's.
	RecDropped, RingFull uint64
}

func (s *sippConcStep) pass() bool {
	return s.Failed == 0 && s.Up >= s.Target && s.HotlineCores < cpuLimitCores && s.HotlineDrops == 0
}

func (s *sippConcStep) why() string {
	var w []string
	if s.Failed > 0 {
		w = append(w, fmt.Sprintf("%d calls failed", s.Failed))
	}
	if s.Up < s.Target {
		w = append(w, fmt.Sprintf("%d of %d calls up", s.Up, s.Target))
	}
	if s.HotlineCores >= cpuLimitCores {
		w = append(w, fmt.Sprintf("Hotline at %.2f cores", s.HotlineCores))
	}
	if s.HotlineDrops > 0 {
		w = append(w, fmt.Sprintf("%d datagrams dropped at Hotline's sockets", s.HotlineDrops))
	}
	if len(w) == 0 {
		return "ok"
	}
	return strings.Join(w, "; ")
}

// sippResults are the SIPp figures.
type sippResults struct {
	Cfg       sippConfig
	Creates   *createProbe // file creates where Hotline stores, just before it starts
	Note      string       // why the SIPp figures are missing, if they are
	Rate      float64
	RateLimit string
	RateSteps []sippRateStep
	Overload  *sippRateStep
	// OverloadBound is figure S3c: the S3 step again with
	// sip.overload.max_cps at BoundCPS (boundShare of S1), set by a
	// configuration reload before it and taken out after it.
	OverloadBound *sippRateStep
	BoundCPS      float64
	// FixedCPS: the overload step ran at this rate (-overload-cps), not at
	// 2× S1; FixedSteps are its repetitions (Overload is the last).
	FixedCPS   float64
	FixedSteps []sippRateStep
	FixedStep  time.Duration // how long each placed calls
	Conc       []sippConcStep
	ConcMax    int
	ConcLimit  string
	// ConcCut says why the ramp ended with no step failed (its last step,
	// the agent pool, the time budget); empty when a step failed.
	ConcCut    string
	ConcCalls  int // calls the ramp answered
	ConcStored int
	ConcAudio  int
	ConcDrops  uint64
	ConcMissed uint64 // packets missing from recordings against 50/s x duration
	ConcErr    string
	Profile    *sippProfile
	Direct     *sippDirect
	Took       time.Duration
	Log        string // Hotline's log, kept when calls went unrecorded
	// Relay says where Hotline relayed the RTP over the run (its
	// in-kernel relay's counters at the end).
	Relay string
}

// sippProfile is Hotline's CPU profile under SIPp load.
type sippProfile struct {
	Rate    float64
	Seconds int
	Step    sippRateStep
	Path    string // the profile file (not committed)
	Rel     string // Path from the repository's root
	TopFlat string
	TopCum  string
	Groups  []profileGroup
	Err     string
}

// profileGroup is the CPU share of the profile's samples under (focus)
// the functions matching Focus.
type profileGroup struct {
	Name, Focus string
	Seconds     float64 // CPU time in the profile; -1 when pprof failed
	Share       float64 // of all samples
}

// profileGroups are the parts of a recorded call the report breaks the
// profile into (they overlap: a group counts everything its functions
// call).
var profileGroups = []profileGroup{
	// Named by sipgo's per-request goroutine, not by Hotline's handlers:
	// the group survives the call path moving between packages.
	{Name: "SIP requests: everything run on sipgo's goroutine per request (the INVITE, BYE... handlers and all they call)", Focus: `sipgo/sip\.\(\*TransactionLayer\)\.handleRequestBackground`},
	{Name: "recording: start on the call's path (Manager.Begin: key, registration)", Focus: `recording\.\(\*Manager\)\.Begin`},
	{Name: "recording: spool files created at call start, off the call's path (Manager.create: call record and WAV create)", Focus: `recording\.\(\*Manager\)\.create`},
	{Name: "recording: finish (WAV flush and close, call record rewritten, hand-off to the uploader)", Focus: `recording\.\(\*Recorder\)\.Finish`},
	{Name: "recording: upload (file backend: copy into the store, remove from the spool)", Focus: `recording\.\(\*Manager\)\.(uploader|upload)`},
	{Name: "recording: packet hand-off and mixing", Focus: `recording\.\(\*Recorder\)\.(Packet|drain|mixBatch)|recording\.drainAll|recording\.\(\*Manager\)\.mixLoop`},
	{Name: "file-system system calls (open, fsync, rename, unlink, write)", Focus: `syscall\.(openat|Open|Fsync|Renameat|Rename|Unlinkat|Unlink|Write|write)$|internal/poll\.\(\*FD\)\.(Fsync|Write)$`},
	{Name: "RTP relay: reading legs' sockets (a shared reader's rounds, or a leg's own read loop: receive, process, send to the other leg, tap to the recorder)", Focus: `media\.\(\*poller\)\.round|media\.\(\*Leg\)\.readLoop`},
	{Name: "RTP relay: sending (sendto, or sendmmsg for several packets)", Focus: `media\.\(\*Leg\)\.(send|sendTo)$`},
	{Name: "RTP relay: receiving (recvmmsg, or recvfrom without it)", Focus: `media\.\(\*batch\)\.recv|net\.\(\*UDPConn\)\.ReadFromUDPAddrPort`},
	{Name: "SIP messages: reading and parsing (sipgo's UDP read loop)", Focus: `sipgo/sip\.\(\*TransportUDP\)\.Serve|sipgo/sip\.ParseMessage|sipgo/sip\.\(\*Parser\)`},
	{Name: "SIP messages: writing (sipgo transport)", Focus: `sipgo/sip\.\(\*UDPConnection\)\.(WriteMsg|WriteTo)`},
	{Name: "SDP (pion/sdp, hotline/sip/sdp)", Focus: `pion/sdp|hotline/sip/sdp`},
	{Name: "Go runtime: allocation (mallocgc)", Focus: `runtime\.mallocgc$`},
	{Name: "Go runtime: garbage collection (background marking, assists)", Focus: `runtime\.(gcBgMarkWorker|gcAssistAlloc)$`},
	{Name: "Go runtime: scheduler (schedule, findRunnable, netpoll)", Focus: `runtime\.(schedule|findRunnable|netpoll)$`},
}

// sippBench is the SIPp part of one benchmark run.
type sippBench struct {
	d    *driver
	cfg  sippConfig
	res  *sippResults
	base string // SIPp working directories
	seq  sippSeq
	h    *hotlineProc
	uas  []*sippProc
	// scenario files
	caller, agent, register string
	deadline                time.Time
}

func (d *driver) sippFigures(ctx context.Context, cfg sippConfig) {
	t0 := time.Now()
	b := &sippBench{d: d, cfg: cfg, res: &sippResults{Cfg: cfg}, base: filepath.Join(d.work, "sipp"),
		deadline: time.Now().Add(cfg.Budget)}
	d.res.SIPp = b.res
	defer func() { b.res.Took = time.Since(t0) }()
	if err := b.run(ctx); err != nil {
		b.res.Note = err.Error()
		d.note("SIPp figures: %v", err)
	}
}

func (b *sippBench) timeLeft() time.Duration { return time.Until(b.deadline) }

func (b *sippBench) run(ctx context.Context) error {
	if _, err := exec.LookPath("sipp"); err != nil {
		return fmt.Errorf("sipp not found (Debian package sip-tester; make deps installs it): %w", err)
	}
	dir := filepath.Join(b.d.repo, "bench", "sipp")
	b.caller, b.agent, b.register = filepath.Join(dir, "caller.xml"), filepath.Join(dir, "agent.xml"), filepath.Join(dir, "register.xml")
	for _, f := range []string{b.caller, b.agent, b.register} {
		if _, err := os.Stat(f); err != nil {
			return err
		}
	}
	fixed := b.d.cfg.OverloadCPS
	if b.cfg.DirectRate > 0 && fixed <= 0 {
		b.d.log.Info("SIPp figure S0: the SIPps alone", "cps", b.cfg.DirectRate)
		b.res.Direct = b.direct(ctx, b.cfg.DirectRate)
	}
	cp := waitCheapCreates(ctx, b.d.work, min(createWaitMax, b.d.timeLeft()/4), b.d.log)
	b.res.Creates = &cp
	b.d.log.Info("SIPp: file creates where Hotline will store", "median", cp.Median, "p90", cp.P90, "journalless_ext4", cp.JournallessExt, "waited", cp.Waited, "err", cp.Err)
	b.d.log.Info("SIPp: starting hotline", "agents", b.cfg.Agents)
	h, err := startHotline(ctx, b.d.pr, b.d.bin, filepath.Join(b.d.work, "sipp-file"), b.d.tuned(hotlineOpts{Agents: b.cfg.Agents, Pprof: true}))
	if err != nil {
		return err
	}
	defer h.stop(15 * time.Second)
	b.h = h
	if err := b.startAgents(ctx); err != nil {
		return err
	}
	defer func() {
		for _, p := range b.uas {
			p.stop(3 * time.Second)
		}
	}()

	defer b.keepLog(h)
	defer func() { b.res.Relay = relaySummary(ctx, h) }()
	if fixed > 0 {
		b.overloadOnly(ctx, fixed)
		return ctx.Err()
	}
	b.d.log.Info("SIPp figure S1: recorded call rate")
	b.res.Rate, b.res.RateLimit, b.res.RateSteps = b.searchRate(ctx)
	sustainable := b.res.Rate
	if sustainable <= 0 {
		sustainable = b.cfg.RateStart
		b.d.note("SIPp: no rate passed; the overload and profile steps use %.0f calls/s", sustainable)
	}
	if ctx.Err() == nil && b.timeLeft() > b.cfg.StepDur+40*time.Second {
		b.d.log.Info("SIPp figure S3: overload", "cps", 2*sustainable)
		s := b.rateStep(ctx, 2*sustainable)
		b.res.Overload = &s
	}
	if ctx.Err() == nil && b.timeLeft() > b.cfg.StepDur+60*time.Second {
		b.boundStep(ctx, sustainable)
	}
	if ctx.Err() == nil && b.timeLeft() > max(b.cfg.StepDur, b.cfg.Profile)+40*time.Second {
		b.profile(ctx, math.Max(math.Round(0.8*sustainable), 10))
	}
	if ctx.Err() == nil && b.timeLeft() > 60*time.Second {
		b.d.log.Info("SIPp figure S2: concurrent recorded calls")
		b.concRamp(ctx)
	}
	return ctx.Err()
}

// boundShare is S3c's sip.overload.max_cps as a share of S1: five
// eighths, the bound that kept admitted calls' answers within S3's 100 ms
// in most steps at twice S1 (bench/README.md, "A bound on new calls a
// second").
const boundShare = 5.0 / 8

// boundStep takes figure S3c: twice the S1 rate again, with
// sip.overload.max_cps at boundShare of S1, set by a configuration
// reload (as an operator would) once the S3 step's calls have ended (the
// step waits for its shedding to end), and put back after the step.
func (b *sippBench) boundStep(ctx context.Context, sustainable float64) {
	bound := math.Max(math.Round(boundShare*sustainable), 1)
	prev, err := b.h.setMaxCPS(ctx, bound)
	if err != nil {
		b.d.note("SIPp figure S3c not taken: %v", err)
		return
	}
	b.res.BoundCPS = bound
	b.d.log.Info("SIPp figure S3c: overload with max_cps", "cps", 2*sustainable, "max_cps", bound)
	s := b.rateStep(ctx, 2*sustainable)
	b.res.OverloadBound = &s
	if _, err := b.h.setMaxCPS(ctx, prev); err != nil {
		b.d.note("SIPp: max_cps not put back to %s after S3c: %v", fmtNum(prev), err)
	}
}

// overloadOnly takes figure S3 only: Reps steps at cps (-overload-cps),
// without the rate search, the profile or the ramp.
func (b *sippBench) overloadOnly(ctx context.Context, cps float64) {
	b.res.FixedCPS = cps
	dur := b.cfg.StepDur
	if b.d.cfg.OverloadStep > 0 {
		dur = b.d.cfg.OverloadStep
	}
	b.res.FixedStep = dur
	for rep := range max(b.d.cfg.Reps, 1) {
		if ctx.Err() != nil || b.timeLeft() < dur+40*time.Second {
			break
		}
		b.d.log.Info("SIPp figure S3: overload at a fixed rate", "rep", rep+1, "cps", cps, "step", dur)
		s := b.rateStepFor(ctx, cps, dur)
		b.res.FixedSteps = append(b.res.FixedSteps, s)
		b.res.Overload = &s
		// Let the calls of the step end and the detector settle.
		select {
		case <-ctx.Done():
		case <-time.After(b.cfg.Hold + 3*time.Second):
		}
	}
}

// relaySummary says where Hotline relayed RTP, from its in-kernel relay's
// counters (hotline_rtp_kernel_packets_total).
func relaySummary(ctx context.Context, h *hotlineProc) string {
	text, ok := h.metricsText(ctx)
	if !ok {
		return "unknown (Hotline's metrics could not be read)"
	}
	c := parseLabelled(text, metrics.NameRTPKernel, "result")
	if len(c) == 0 {
		return "in user space (the in-kernel relay did not run: rtp.kernel off, or not allowed here)"
	}
	return fmt.Sprintf("in the kernel (rtp.kernel): %s packets relayed there, %s of them without the recorders' copy as the ring buffer was full; %s left to the user-space relay as too long (%s)",
		fmtNum(c["relayed"]), fmtNum(c["ring_full"]), fmtNum(c["too_long"]), metrics.NameRTPKernel)
}

// parseLabelled reads the samples of a counter with one label from a
// Prometheus text exposition, by the label's value.
func parseLabelled(text, name, label string) map[string]float64 {
	out := map[string]float64{}
	prefix := name + "{" + label + `="`
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		val, num, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(num), 64); err == nil {
			out[val] = v
		}
	}
	return out
}

// keepLog copies Hotline's log to bench/tmp when a call went unrecorded
// or was recorded with a silent side, for the Call-IDs the report lists.
func (b *sippBench) keepLog(h *hotlineProc) {
	lost := false
	steps := append([]sippRateStep(nil), b.res.RateSteps...)
	if b.res.Overload != nil {
		steps = append(steps, *b.res.Overload)
	}
	if b.res.OverloadBound != nil {
		steps = append(steps, *b.res.OverloadBound)
	}
	if b.res.Profile != nil {
		steps = append(steps, b.res.Profile.Step)
	}
	for _, s := range steps {
		if len(s.Unrecorded) > 0 || len(s.NoAudio) > 0 || len(s.Clipped) > 0 || s.NoRecord > 0 {
			lost = true
		}
	}
	if !lost {
		return
	}
	dir := filepath.Join(b.d.repo, "bench", "tmp")
	data, err := os.ReadFile(h.logPath)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		path := filepath.Join(dir, time.Now().Format("2006-01-02T15-04")+"-sipp-hotline.log")
		b.res.Log = relTo(b.d.repo, path)
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		b.d.note("SIPp: Hotline's log not kept: %v", err)
	}
}

// relTo is path relative to root when it is under it.
func relTo(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// agentDrops sums the datagrams dropped at the agent SIPps' sockets.
func (b *sippBench) agentDrops() uint64 {
	var n uint64
	for _, p := range b.uas {
		d, _ := udpDrops(p.PID())
		n += d
	}
	return n
}

// startAgents registers the agents, AgentsPerUAS per SIPp, then starts
// one agent SIPp on each registration's port.
func (b *sippBench) startAgents(ctx context.Context) error {
	users := make([]string, b.cfg.Agents)
	for i := range users {
		users[i] = agentName(i)
	}
	t0 := time.Now()
	for len(users) > 0 {
		n := min(len(users), b.cfg.AgentsPerUAS)
		part := users[:n]
		users = users[n:]
		var last error
		for range 3 { // a free port may be taken before SIPp binds it
			p, err := b.startAgent(ctx, part)
			if err == nil {
				b.uas = append(b.uas, p)
				last = nil
				break
			}
			last = err
		}
		if last != nil {
			return last
		}
	}
	n, err := b.h.availableAgents(ctx)
	if err != nil || n != b.cfg.Agents {
		return fmt.Errorf("%d of %d SIPp agents available after registering (%v)", n, b.cfg.Agents, err)
	}
	b.d.log.Info("SIPp agents registered", "agents", n, "sipp_processes", len(b.uas), "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

func (b *sippBench) startAgent(ctx context.Context, users []string) (*sippProc, error) {
	port, err := freeUDPPort()
	if err != nil {
		return nil, err
	}
	mport, err := freeUDPPort()
	if err != nil {
		return nil, err
	}
	inf := filepath.Join(b.base, fmt.Sprintf("agents-%d.csv", port))
	if err := os.MkdirAll(b.base, 0o750); err != nil {
		return nil, err
	}
	if err := sippAgents(inf, users); err != nil {
		return nil, err
	}
	reg, err := startSIPp(b.d.pr, &b.seq, b.base, "register", []string{b.h.sip.String(), "-sf", b.register, "-inf", inf,
		"-p", fmt.Sprint(port), "-bind_local", "-m", fmt.Sprint(len(users)), "-r", "200", "-l", "200",
		"-recv_timeout", "10000", "-timeout", "60s", "-timeout_error"})
	if err != nil {
		return nil, err
	}
	if err := reg.wait(ctx, 70*time.Second); err != nil {
		return nil, err
	}
	st, err := reg.stats()
	if err != nil || st.Successful != len(users) {
		return nil, fmt.Errorf("SIPp registered %d of %d agents (exit %d, %v): %s", st.Successful, len(users), reg.exitCode(), err, reg.errorTail(3))
	}
	// The registrations' Contact is port: the agents' SIPp binds it now.
	uas, err := startSIPp(b.d.pr, &b.seq, b.base, "agents", []string{"-sf", b.agent, "-p", fmt.Sprint(port), "-bind_local",
		"-mp", fmt.Sprint(mport), "-rtp_echo"})
	if err != nil {
		return nil, err
	}
	if err := waitSIPpUp(uas); err != nil {
		uas.stop(3 * time.Second)
		return nil, fmt.Errorf("agent %w", err)
	}
	return uas, nil
}

// stepPlan is a rate step's calls (placed at rate for dur), its caller
// SIPps (RatePerUAC each at most) and the bound on their run.
func (b *sippBench) stepPlan(rate float64, dur time.Duration) (calls, callers int, bound time.Duration) {
	return max(int(math.Round(rate*dur.Seconds())), 1), max(int(math.Ceil(rate/b.cfg.RatePerUAC)), 1),
		dur*2 + b.cfg.Hold + 40*time.Second
}

// sumCPU is the CPU time the SIPps used so far.
func sumCPU(ps []*sippProc) time.Duration {
	var t time.Duration
	for _, p := range ps {
		t += p.cpu()
	}
	return t
}

// busyShare is the machine's busy share between two MachineCPU readings
// (0 when no time passed).
func busyShare(busy0, tot0, busy1, tot1 time.Duration) float64 {
	if tot1 <= tot0 {
		return 0
	}
	return float64(busy1-busy0) / float64(tot1-tot0)
}

// callers starts n caller SIPps calling Hotline, sharing calls at rate,
// each call talking for hold.
func (b *sippBench) callers(calls int, rate float64, hold time.Duration, n int, bound time.Duration) ([]*sippProc, error) {
	return b.callersTo(b.h.sip.String(), calls, rate, hold, n, bound)
}

// callersTo is callers calling target (host:port).
func (b *sippBench) callersTo(target string, calls int, rate float64, hold time.Duration, n int, bound time.Duration) ([]*sippProc, error) {
	var ps []*sippProc
	left := calls
	for i := range n {
		c := left / (n - i)
		left -= c
		if c == 0 {
			continue
		}
		mport, err := freeUDPPort()
		if err != nil {
			return ps, err
		}
		limit := max(c, 10)
		p, err := startSIPp(b.d.pr, &b.seq, b.base, "callers", []string{target, "-sf", b.caller, "-s", "1900",
			"-p", "0", "-mp", fmt.Sprint(mport), "-m", fmt.Sprint(c), "-r", fmt.Sprintf("%.3f", rate/float64(n)), "-rp", "1000",
			"-l", fmt.Sprint(limit), "-d", msArg(hold), "-trace_rtt", "-rtt_freq", "1",
			"-recv_timeout", "32000", "-timeout", fmt.Sprintf("%ds", int(bound.Seconds())), "-timeout_error"})
		if err != nil {
			return ps, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// recCheck is what the recordings on disk (file backend) hold.
type recCheck struct {
	Records   int               // call records read
	Stored    int               // call records with their WAV
	WithAudio int               // of those, with audio from both sides
	Dropped   uint64            // packets dropped by recorders (every record read)
	Missing   uint64            // packets missing against 50 packets/s of the call
	IDs       map[string]bool   // Call-IDs stored
	NoAudio   []string          // Call-IDs stored with a silent side
	Silent    map[string]string // of those, which side: "caller", "agent" or "both"
	// Clipped are Call-IDs stored with audio on both sides, one of which
	// holds less than half of what the call's length carries (50
	// packets a second): the media relay fell behind and the rest was
	// still queued in Hotline's socket when the call ended. Calls shorter
	// than minTalkBothSides are not judged.
	Clipped []string
}

// readRecords checks the recordings on disk: call records read, those
// with a WAV holding audio from both sides, packets dropped by recorders,
// and packets missing against 50 packets/s of the call. talk, if not 0,
// is how long the callers talk (recCheck.Clipped judges against it when
// the recording is longer).
func readRecords(dir string, talk time.Duration) recCheck {
	rc := recCheck{IDs: map[string]bool{}, Silent: map[string]string{}}
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		var cr struct {
			CallID   string  `json:"call_id"`
			Duration float64 `json:"duration_seconds"`
			Stats    *struct {
				Received []uint64 `json:"received"`
				Dropped  uint64   `json:"dropped"`
			} `json:"stats"`
		}
		if json.Unmarshal(data, &cr) != nil {
			return nil
		}
		rc.Records++
		if cr.Stats != nil {
			rc.Dropped += cr.Stats.Dropped
		}
		if _, samples, err := wavAudioBytes(strings.TrimSuffix(p, ".json") + ".wav"); err != nil || samples == 0 {
			return nil
		}
		rc.Stored++
		rc.IDs[cr.CallID] = true
		both := cr.Stats != nil && len(cr.Stats.Received) == 2
		if cr.Stats != nil {
			for _, r := range cr.Stats.Received {
				if r == 0 {
					both = false
				}
				// One packet every 20 ms, less two for the edges.
				if want := uint64(math.Max(cr.Duration*50-2, 0)); r < want {
					rc.Missing += want - r
				}
			}
		}
		if both {
			rc.WithAudio++
			if clipped(cr.Stats.Received, cr.Duration, talk) {
				rc.Clipped = append(rc.Clipped, cr.CallID)
			}
		} else {
			rc.NoAudio = append(rc.NoAudio, cr.CallID)
			rc.Silent[cr.CallID] = silentSide(cr.Stats)
		}
		return nil
	})
	sort.Strings(rc.NoAudio)
	return rc
}

// minTalkBothSides is how long an agent must have been connected for its
// recording to be required to hold audio from both sides: the SIPp agents
// only echo what Hotline relays to them, so a call hung up right after
// the bridge can end before the echo came back.
const minTalkBothSides = 500 * time.Millisecond

// hotlineCall is what the benchmark reads of one of Hotline's call records
// (records file backend: {"call": {...}} lines, among {"event": ...}
// lines, in <dir>/<day>.jsonl).
type hotlineCall struct {
	CallID    string     `json:"call_id"`
	Connected *time.Time `json:"connected"`
	Talk      float64    `json:"talk_seconds"`
	Outcome   string     `json:"outcome"`
	Recording string     `json:"recording"`
}

// readCallRecords returns Hotline's call records of the Call-IDs in want.
func readCallRecords(dir string, want map[string]bool) map[string]hotlineCall {
	out := map[string]hotlineCall{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			var l struct {
				Call *hotlineCall `json:"call"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Call != nil && want[l.Call.CallID] {
				out[l.Call.CallID] = *l.Call
			}
		}
	}
	return out
}

// waitCallRecords waits (bounded) for Hotline's call records of the placed
// calls: until at least answered of them are there, or none came for 3 s.
// Records reach the file through Hotline's records spool, after the call.
func waitCallRecords(ctx context.Context, dir string, placed []string, answered int, bound time.Duration) map[string]hotlineCall {
	want := make(map[string]bool, len(placed))
	for _, id := range placed {
		want[id] = true
	}
	return waitRecordsIn(ctx, []string{dir}, want, answered, bound)
}

// waitRecordsIn waits (bounded) for Hotline's call records of the Call-IDs
// in want, read from the records directories dirs (the nodes of a
// cluster): until at least enough of them are there, or none came for 3 s.
func waitRecordsIn(ctx context.Context, dirs []string, want map[string]bool, enough int, bound time.Duration) map[string]hotlineCall {
	deadline := time.Now().Add(bound)
	last, lastGrowth := -1, time.Now()
	for {
		calls := map[string]hotlineCall{}
		for _, dir := range dirs {
			maps.Copy(calls, readCallRecords(dir, want))
		}
		if len(calls) != last {
			last, lastGrowth = len(calls), time.Now()
		}
		if len(calls) >= enough || time.Since(lastGrowth) > 3*time.Second || time.Now().After(deadline) || ctx.Err() != nil {
			return calls
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// recordsDir is where Hotline's records file backend writes (hotlineConfig).
func (h *hotlineProc) recordsDir() string { return filepath.Join(h.dir, "records") }

// callRecords reads Hotline's call records of the Call-IDs in want.
func (h *hotlineProc) callRecords(ctx context.Context, want map[string]bool, bound time.Duration) map[string]hotlineCall {
	return hotlineSet{h}.callRecords(ctx, want, bound)
}

// callRecords reads the nodes' call records of the Call-IDs in want: a
// call's record is written by the node that had its caller.
func (s hotlineSet) callRecords(ctx context.Context, want map[string]bool, bound time.Duration) map[string]hotlineCall {
	dirs := make([]string, len(s))
	for i, h := range s {
		dirs[i] = h.recordsDir()
	}
	return waitRecordsIn(ctx, dirs, want, len(want), bound)
}

// judgeRecordings checks the placed calls against Hotline's call records
// and the recordings stored: every call connected to an agent must be
// recorded (with audio both ways once the agent talked
// minTalkBothSides); a call answered in the queue whose caller hung up
// before an agent was bridged is not recorded (recording.start: bridge)
// but failed the caller.
func (s *sippRateStep) judgeRecordings(placed []string, calls map[string]hotlineCall, rc recCheck) {
	s.Stored, s.WithAudio, s.RecDropped = rc.Stored, rc.WithAudio, rc.Dropped
	s.Clipped = rc.Clipped
	s.NoRecord = max(s.Answered-len(calls), 0)
	for _, id := range placed {
		c, ok := calls[id]
		switch {
		case !ok:
		case c.Connected == nil: // hung up in the queue, or its maximum wait
			s.Abandoned++
		default:
			s.Connected++
			if !rc.IDs[id] {
				s.Unrecorded = append(s.Unrecorded, id)
			}
		}
	}
	for _, id := range rc.NoAudio {
		c, ok := calls[id]
		talk := time.Duration(c.Talk * float64(time.Second))
		desc := fmt.Sprintf("%s (%s silent, talked %s)", id, rc.Silent[id], talk.Round(time.Millisecond))
		if ok && talk < minTalkBothSides {
			s.ShortSilent = append(s.ShortSilent, desc)
			continue
		}
		s.NoAudio = append(s.NoAudio, desc)
	}
}

// clipped reports whether a side of a recording lasting seconds holds
// less than half of the packets (one every 20 ms) that the recording's
// length, or the callers' talk if shorter (not 0), carries: a recording
// that lasted longer because a hang-up was handled late is judged by the
// audio the callers sent. Recordings shorter than minTalkBothSides are
// not judged.
func clipped(received []uint64, seconds float64, talk time.Duration) bool {
	if seconds < minTalkBothSides.Seconds() {
		return false
	}
	if talk > 0 {
		seconds = min(seconds, talk.Seconds())
	}
	for _, r := range received {
		if float64(r) < seconds*50/2 {
			return true
		}
	}
	return false
}

// silentSide names the side(s) of a recording without packets.
func silentSide(st *struct {
	Received []uint64 `json:"received"`
	Dropped  uint64   `json:"dropped"`
}) string {
	if st == nil || len(st.Received) != 2 || st.Received[0] == 0 && st.Received[1] == 0 {
		return "both"
	}
	if st.Received[0] == 0 {
		return "caller"
	}
	return "agent"
}

// sippCallIDs are the Call-IDs a caller SIPp used: "<n>-<pid>@<ip>" for
// its calls 1..created.
func sippCallIDs(p *sippProc, created int) []string {
	out := make([]string, 0, created)
	for i := 1; i <= created; i++ {
		out = append(out, fmt.Sprintf("%d-%d@127.0.0.1", i, p.PID()))
	}
	return out
}

// firstN lists at most n of ids.
func firstN(ids []string, n int) string {
	if len(ids) > n {
		return strings.Join(ids[:n], ", ") + fmt.Sprintf(" (and %d more)", len(ids)-n)
	}
	return strings.Join(ids, ", ")
}

// rateStep places StepDur of 2-second calls at rate with SIPp and checks
// every answered call's recording.
func (b *sippBench) rateStep(ctx context.Context, rate float64) sippRateStep {
	return b.rateStepFor(ctx, rate, b.cfg.StepDur)
}

// rateStepFor is rateStep placing calls for dur.
func (b *sippBench) rateStepFor(ctx context.Context, rate float64, dur time.Duration) sippRateStep {
	s := sippRateStep{Rate: rate, UASs: len(b.uas)}
	recDir := filepath.Join(b.h.dir, "recordings")
	if err := setAside(filepath.Join(recDir, "recordings"), filepath.Join(b.h.dir, "set-aside")); err != nil { // count this step's only
		s.Err = err.Error()
		return s
	}
	// A step starts from a settled Hotline, as the Go generator's do: not
	// still shedding, nor holding new calls to the rate it learned, after
	// the step before overloaded it (the search steps down right after a
	// failed step: its refusals were counted against the lower rate).
	b.h.waitNotShedding(ctx, 15*time.Second)
	b0, err := b.h.backlog(ctx)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	var n int
	var bound time.Duration
	s.Planned, n, bound = b.stepPlan(rate, dur)
	m0 := b.h.stepMetrics(ctx)
	cpu0, _ := ProcCPU(b.h.PID())
	uas0 := sumCPU(b.uas)
	agentDrops0 := b.agentDrops()
	hotlineDrops0, _ := udpDrops(b.h.PID())
	t0 := time.Now()
	ps, err := b.callers(s.Planned, rate, b.cfg.Hold, n, bound)
	defer func() {
		for _, p := range ps {
			p.stop(3 * time.Second)
		}
	}()
	if err != nil {
		s.Err = err.Error()
		return s
	}
	s.UACs = len(ps)
	for _, p := range ps {
		if err := p.wait(ctx, bound+5*time.Second); err != nil {
			s.Err = err.Error()
		}
	}
	s.Elapsed = time.Since(t0)
	cpu1, _ := ProcCPU(b.h.PID())
	uas1 := sumCPU(b.uas)
	s.Cores = (cpu1 - cpu0).Seconds() / s.Elapsed.Seconds()
	s.UASCores = (uas1 - uas0).Seconds() / s.Elapsed.Seconds()
	m1 := b.h.stepMetrics(ctx)
	s.AgentDrops = b.agentDrops() - agentDrops0
	if d, err := udpDrops(b.h.PID()); err == nil {
		s.HotlineDrops = d - hotlineDrops0
	}
	s.RefusedBy = reasonDelta(m0.reasons, m1.reasons)
	s.LateRefused = lateRefusals(m0, m1)
	s.HotlineRefuse99 = bucketQuantile(m0.refusal, m1.refusal, 0.99)
	s.HotlineAnswer99 = bucketQuantile(m0.answer, m1.answer, 0.99)
	s.HotlineSockWait99 = bucketQuantile(m0.sockWait, m1.sockWait, 0.99)
	s.InviteWait99 = bucketQuantile(m0.inviteWait, m1.inviteWait, 0.99)
	s.OtherWait99 = bucketQuantile(m0.otherWait, m1.otherWait, 0.99)
	var placed []string
	var allRows []sippstat.RTT
	for _, p := range ps {
		// A caller's own busy time: placing its share of the calls.
		s.UACCores = append(s.UACCores, p.cpu().Seconds()/s.Elapsed.Seconds())
		st, err := p.stats()
		if err != nil && s.Err == "" {
			s.Err = fmt.Sprintf("caller SIPp statistics: %v", err)
		}
		s.Created += st.Created
		s.Failed += st.Failed
		placed = append(placed, sippCallIDs(p, st.Created)...)
		rows, err := p.rttRows()
		if err != nil && s.Err == "" {
			s.Err = err.Error()
		}
		allRows = append(allRows, rows...)
		rt := sippstat.ByNumber(rows)
		s.Answered += len(rt[1])
		s.Refused += len(rt[2])
		s.Rang += len(rt[3])
		s.AnswerTimes = append(s.AnswerTimes, rt[1]...)
		s.RefuseTimes = append(s.RefuseTimes, rt[2]...)
		if st.Failed > 0 {
			b.d.log.Debug("caller SIPp failures", "dir", p.dir, "errors", p.errorTail(3))
		}
	}
	s.Seconds = stepSeconds(allRows)
	b1, err := b.h.waitIdle(ctx, 30*time.Second, true)
	if err != nil {
		s.NotIdle = err.Error()
	} else {
		// Bounded, but long enough that a recording not stored is lost,
		// not late.
		_, err = b.h.waitUploads(ctx, b0.Uploaded, s.Answered, 30*time.Second, 10*time.Second)
	}
	if err != nil {
		b.d.log.Warn("SIPp step: hotline not idle or uploads missing", "err", err, "uploaded", b1.Uploaded-b0.Uploaded)
	}
	calls := waitCallRecords(ctx, b.h.recordsDir(), placed, s.Answered, 15*time.Second)
	s.judgeRecordings(placed, calls, readRecords(recDir, b.cfg.Hold))
	b.d.log.Info("SIPp rate step", "cps", rate, "planned", s.Planned, "created", s.Created, "answered", s.Answered,
		"refused", s.Refused, "no_180", max(s.Answered-s.Rang, 0), "failed", s.Failed, "stored", s.Stored, "with_audio", s.WithAudio, "clipped", len(s.Clipped), "rec_dropped", s.RecDropped,
		"hotline_cores", fmt.Sprintf("%.2f", s.Cores), "callers", len(ps), "answer_p99", DurationPercentile(s.AnswerTimes, 99),
		"agent_sipp_drops", s.AgentDrops, "hotline_drops", s.HotlineDrops, "hotline_answer_p99", s.HotlineAnswer99, "sip_socket_wait_p99", s.HotlineSockWait99, "invite_socket_wait_p99", s.InviteWait99, "other_socket_wait_p99", s.OtherWait99, "pass", s.pass(), "why", s.why())
	b.d.log.Info("SIPp step second by second", "cps", rate, "seconds", secondsLine(s.Seconds))
	if c := s.maxUACCores(); c >= 0.8 && b.cfg.RatePerUAC > 10 {
		// A caller SIPp near a core of its own falls behind: split the
		// callers over more processes from now on.
		b.cfg.RatePerUAC = math.Max(b.cfg.RatePerUAC/2, 10)
		b.cfg.CallsPerUAC = max(b.cfg.CallsPerUAC/2, 50)
		b.d.note("SIPp: a caller SIPp used %.2f cores at %.0f calls/s: from now on at most %.0f calls/s and %d calls per caller SIPp",
			c, rate, b.cfg.RatePerUAC, b.cfg.CallsPerUAC)
	}
	if !s.pass() {
		_, _ = b.h.waitIdle(ctx, 30*time.Second, true) // let a struggling Hotline settle
	}
	return s
}

// searchRate finds the highest passing rate: doubling from RateStart,
// then bisection, at most MaxSteps steps and within the budget.
func (b *sippBench) searchRate(ctx context.Context) (float64, string, []sippRateStep) {
	var steps []sippRateStep
	round := func(r float64) float64 { return max(math.Round(r/10)*10, 10) }
	// A step costs its launches, the hold, the idle wait and the checks.
	stepCost := b.cfg.StepDur + b.cfg.Hold + 15*time.Second
	canStep := func() bool {
		return ctx.Err() == nil && len(steps) < b.cfg.MaxSteps && b.timeLeft() > stepCost+b.cfg.Reserve
	}
	try := func(r float64) bool {
		s := b.rateStep(ctx, r)
		steps = append(steps, s)
		return s.pass()
	}
	var lo, hi float64
	for r := b.cfg.RateStart; r <= b.cfg.RateCap && canStep(); r *= 2 {
		if !try(round(r)) {
			hi = round(r)
			break
		}
		lo = round(r)
	}
	if hi == 0 {
		return lo, fmt.Sprintf("no step failed up to %.0f CPS (step or time bound)", lo), steps
	}
	for range b.cfg.SearchIters {
		if hi-lo < 20 || !canStep() {
			break
		}
		mid := round((lo + hi) / 2)
		if try(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	why := ""
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].Rate == hi && !steps[i].pass() {
			why = steps[i].why()
			break
		}
	}
	return lo, fmt.Sprintf("%.0f CPS failed: %s", hi, why), steps
}

// profile takes a CPU profile of Hotline (metrics.pprof) during a rate
// step at rate, and keeps its top entries.
func (b *sippBench) profile(ctx context.Context, rate float64) {
	secs := max(int(b.cfg.Profile.Seconds()), 1)
	pr := &sippProfile{Rate: rate, Seconds: secs}
	b.res.Profile = pr
	b.d.log.Info("SIPp: CPU profile", "cps", rate, "seconds", secs)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Calls are placed for the whole profile and a second on each side.
		pr.Step = b.rateStepFor(ctx, rate, max(b.cfg.StepDur, b.cfg.Profile+2*time.Second))
	}()
	time.Sleep(time.Second) // calls under way
	url := strings.TrimSuffix(b.h.metrics, "/metrics") + fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs)
	data, err := httpGet(ctx, url, time.Duration(secs+20)*time.Second)
	wg.Wait()
	if err != nil {
		pr.Err = err.Error()
		return
	}
	dir := filepath.Join(b.d.repo, "bench", "tmp")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		pr.Err = err.Error()
		return
	}
	pr.Path = filepath.Join(dir, fmt.Sprintf("%s-sipp-cpu.pprof", time.Now().Format("2006-01-02T15-04")))
	pr.Rel = relTo(b.d.repo, pr.Path)
	if err := os.WriteFile(pr.Path, data, 0o644); err != nil {
		pr.Err = err.Error()
		return
	}
	top := func(extra ...string) string {
		args := append([]string{"tool", "pprof", "-top", "-nodecount=30"}, extra...)
		args = append(args, b.d.bin, pr.Path)
		cmd := exec.CommandContext(ctx, "go", args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Sprintf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	pr.TopFlat = top()
	pr.TopCum = top("-cum")
	for _, g := range profileGroups {
		g.Seconds, g.Share = -1, -1
		// Every node (no dropping of small ones): the summary line is
		// then the focus's total.
		out := top("-nodefraction=0", "-nodecount=1000000", "-focus="+g.Focus)
		g.Seconds, g.Share = parseFocusShare(out)
		pr.Groups = append(pr.Groups, g)
	}
}

// parseFocusShare reads "Showing nodes accounting for 1.48s, 39.15% of
// 3.78s total" from go tool pprof -top -focus run with every node shown
// (0, 0 when nothing matched; -1, -1 when the line is missing).
func parseFocusShare(out string) (seconds, share float64) {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		rest, ok := strings.CutPrefix(l, "Showing nodes accounting for ")
		if !ok {
			continue
		}
		f := strings.Fields(strings.NewReplacer(",", " ", "%", " ").Replace(rest))
		if len(f) < 2 {
			break
		}
		d, err1 := time.ParseDuration(f[0])
		if err1 != nil && f[0] == "0" {
			d, err1 = 0, nil
		}
		p, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			break
		}
		return d.Seconds(), p
	}
	return -1, -1
}

func httpGet(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, data)
	}
	return data, nil
}

// concRamp holds more and more talking SIPp calls and measures Hotline at
// each step. Every call ends at the ramp's end (SIPp's -d), so the ramp
// is bounded in time even when it stops early.
func (b *sippBench) concRamp(ctx context.Context) {
	r := b.res
	recDir := filepath.Join(b.h.dir, "recordings")
	if err := setAside(filepath.Join(recDir, "recordings"), filepath.Join(b.h.dir, "set-aside")); err != nil {
		r.ConcErr = err.Error()
		return
	}
	b0, _ := b.h.backlog(ctx)
	steps := b.cfg.ConcSteps
	if last := steps[len(steps)-1]; last > b.cfg.Agents*4/5 {
		b.d.note("SIPp concurrency ramp capped by the agent pool (%d agents)", b.cfg.Agents)
	}
	// Time for each step: placing its calls, their set-up, the window.
	perStep := func(newCalls int) time.Duration {
		return time.Duration(float64(newCalls)/b.cfg.ConcRate*float64(time.Second)) + 6*time.Second + b.cfg.Measure
	}
	var plan time.Duration
	prev := 0
	for _, t := range steps {
		plan += perStep(t - prev)
		prev = t
	}
	plan = min(plan, b.timeLeft()-45*time.Second)
	end := time.Now().Add(plan)
	var callers []*sippProc
	defer func() {
		for _, p := range callers {
			p.stop(3 * time.Second)
		}
	}()
	failedOf := func() (failed, refused int) {
		for _, p := range callers {
			if st, err := p.stats(); err == nil {
				failed += st.Failed
			}
			if rt, err := p.rtts(); err == nil {
				refused += len(rt[2])
			}
		}
		return failed, refused
	}
	launched := 0
	for _, target := range steps {
		if target > b.cfg.Agents*4/5 {
			r.ConcLimit = fmt.Sprintf("agent pool (%d agents)", b.cfg.Agents)
			r.ConcCut = fmt.Sprintf("the agent pool: %d agents", b.cfg.Agents)
			break
		}
		k0 := b.h.mediaCounts(ctx)
		newCalls := target - launched
		launch := time.Duration(float64(newCalls) / b.cfg.ConcRate * float64(time.Second))
		hold := time.Until(end) - launch
		if ctx.Err() != nil || hold < b.cfg.Measure+5*time.Second {
			r.ConcLimit = "time budget"
			r.ConcCut = "the time budget"
			break
		}
		n := max((newCalls+b.cfg.CallsPerUAC-1)/b.cfg.CallsPerUAC, 1)
		ps, err := b.callers(newCalls, b.cfg.ConcRate, hold, n, time.Until(end)+40*time.Second)
		callers = append(callers, ps...)
		if err != nil {
			r.ConcLimit = err.Error()
			break
		}
		launched = target
		// Wait for the calls to be up.
		deadline := time.Now().Add(launch + 15*time.Second)
		st := sippConcStep{Target: target}
		for time.Now().Before(deadline) && ctx.Err() == nil {
			n, _ := b.h.activeCalls(ctx)
			f, rf := failedOf()
			if n+f+rf >= target {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		time.Sleep(time.Second)
		all := append(append([]*sippProc(nil), callers...), b.uas...)
		s0 := sumCPU(all)
		cpu0, _ := ProcCPU(b.h.PID())
		busy0, tot0, _ := MachineCPU()
		rcv0, _ := UDPRcvbufErrors()
		drop0, _ := udpDrops(b.h.PID())
		agent0 := b.agentDrops()
		t0 := time.Now()
		time.Sleep(b.cfg.Measure)
		el := time.Since(t0).Seconds()
		cpu1, _ := ProcCPU(b.h.PID())
		busy1, tot1, _ := MachineCPU()
		rcv1, _ := UDPRcvbufErrors()
		drop1, _ := udpDrops(b.h.PID())
		if a := b.agentDrops(); a > agent0 {
			st.AgentDrops = a - agent0
		}
		s1 := sumCPU(all)
		st.Up, _ = b.h.activeCalls(ctx)
		f, rf := failedOf()
		st.Failed = f + rf
		st.HotlineCores = (cpu1 - cpu0).Seconds() / el
		st.SIPpCores = (s1 - s0).Seconds() / el
		st.MachineBusy = busyShare(busy0, tot0, busy1, tot1)
		st.RcvbufErrors = rcv1 - rcv0
		if drop1 > drop0 {
			st.HotlineDrops = drop1 - drop0
		}
		st.RingFull, st.RecDropped = b.h.mediaCounts(ctx).sub(k0)
		r.Conc = append(r.Conc, st)
		b.d.log.Info("SIPp concurrency step", "target", target, "up", st.Up, "failed", st.Failed,
			"hotline_cores", fmt.Sprintf("%.2f", st.HotlineCores), "sipp_cores", fmt.Sprintf("%.2f", st.SIPpCores),
			"machine_busy", fmt.Sprintf("%.0f%%", 100*st.MachineBusy), "hotline_drops", st.HotlineDrops, "agent_sipp_drops", st.AgentDrops, "rcvbuf_errors", st.RcvbufErrors, "rec_dropped", st.RecDropped, "ring_full", st.RingFull, "pass", st.pass(), "why", st.why())
		if !st.pass() {
			r.ConcLimit = st.why()
			break
		}
		r.ConcMax = target
	}
	if r.ConcLimit == "" && len(r.Conc) == len(steps) {
		r.ConcLimit = fmt.Sprintf("none: the ramp's last step (%d calls) passed", steps[len(steps)-1])
		r.ConcCut = "its last step"
	}
	// The calls end by themselves at the ramp's end.
	b.d.log.Info("SIPp concurrency ramp: waiting for the calls to end", "in", time.Until(end).Round(time.Second))
	for _, p := range callers {
		if err := p.wait(ctx, time.Until(end)+60*time.Second); err != nil && r.ConcErr == "" {
			r.ConcErr = err.Error()
		}
		if rt, err := p.rtts(); err == nil {
			r.ConcCalls += len(rt[1])
		}
	}
	if _, err := b.h.waitIdle(ctx, 60*time.Second, true); err == nil {
		_, err = b.h.waitUploads(ctx, b0.Uploaded, r.ConcCalls, 20*time.Second, 5*time.Second)
		if err != nil && r.ConcErr == "" {
			r.ConcErr = err.Error()
		}
	} else if r.ConcErr == "" {
		r.ConcErr = err.Error()
	}
	rc := readRecords(recDir, 0)
	r.ConcStored, r.ConcAudio, r.ConcDrops, r.ConcMissed = rc.Stored, rc.WithAudio, rc.Dropped, rc.Missing
}
