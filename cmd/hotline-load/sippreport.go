package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

const toolSIPp = "SIPp 3.6.1 (bench/sipp: rtp_stream callers, -rtp_echo agents)"

// one is a single measurement as a summary (NaN: none).
func one(x float64) Summary {
	if math.IsNaN(x) {
		return Summarize(nil)
	}
	return Summarize([]float64{x})
}

// best is the highest passing rate step, or nil.
func (r *sippResults) best() *sippRateStep {
	var b *sippRateStep
	for i := range r.RateSteps {
		s := &r.RateSteps[i]
		if s.pass() && (b == nil || s.Rate > b.Rate) {
			b = s
		}
	}
	return b
}

func (r *sippResults) bestConc() *sippConcStep {
	var b *sippConcStep
	for i := range r.Conc {
		if r.Conc[i].pass() {
			b = &r.Conc[i]
		}
	}
	return b
}

func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

// sippFigures are the SIPp lines of the summary table.
func (r *sippResults) figures() []figure {
	var figs []figure
	add := func(f figure) { figs = append(figs, f) }
	add(figure{ID: "S1", Name: "recorded calls/s with SIPp: 2 s calls, PCMU both ways, < 0.1% failed, every call connected to an agent recorded with audio both ways",
		Unit: "calls/s", Tool: toolSIPp, S: one(r.Rate), Target: &target{400, true, "≥ 400 (issue 15)"}, Note: r.Note})
	hot, callers, agents, p99 := math.NaN(), math.NaN(), math.NaN(), math.NaN()
	if b := r.best(); b != nil {
		hot, callers, agents = b.Cores, sum(b.UACCores), b.UASCores
		if len(b.AnswerTimes) > 0 {
			p99 = ms(DurationPercentile(b.AnswerTimes, 99))
		}
	}
	add(figure{ID: "S1a", Name: "Hotline CPU at the S1 rate", Unit: "cores", Tool: toolProc, S: one(hot)})
	if d := r.Direct; d != nil {
		busy, room := math.NaN(), math.NaN()
		if d.Err == "" && d.Failed == 0 && d.MachineBusy > 0 {
			busy = d.MachineBusy * float64(d.CPUs)
			room = 1000 * (float64(d.CPUs) - busy) / d.Rate
		}
		add(figure{ID: "S0", Name: fmt.Sprintf("the SIPps alone at %s calls/s, S1's calls placed straight from the caller SIPps to an agent SIPp (no Hotline): the machine's CPUs busy", fmtNum(d.Rate)),
			Unit: "cores", Tool: "/proc/stat", S: one(busy), Note: fmt.Sprintf("SIPps' own %s cores; %d of %d calls failed", fmtNum(d.SIPpCores), d.Failed, d.Created)})
		perCall := math.NaN()
		if b := r.best(); b != nil && b.Created > 0 {
			perCall = 1000 * b.Cores * b.Elapsed.Seconds() / float64(b.Created)
		}
		var room1 *target
		if !math.IsNaN(room) {
			room1 = &target{room, false, fmt.Sprintf("≤ %s (what S0 leaves)", fmtNum(room))}
		}
		s0p99 := math.NaN()
		if len(d.AnswerTimes) > 0 {
			s0p99 = ms(DurationPercentile(d.AnswerTimes, 99))
		}
		add(figure{ID: "S0b", Name: fmt.Sprintf("time to answer (INVITE → 200) p99 of the SIPps alone at %s calls/s (no Hotline; the agent SIPp answers at once): the generator's own part of S1c and S1f", fmtNum(d.Rate)),
			Unit: "ms", Tool: toolSIPp + ", -trace_rtt", S: one(s0p99)})
		add(figure{ID: "S0a", Name: fmt.Sprintf("Hotline's CPU per call at the S1 rate (its CPU over the step / the calls placed), against the most %s calls/s leave it beside the SIPps (S0's idle CPU per call)", fmtNum(d.Rate)),
			Unit: "ms", Tool: toolProc + ", /proc/stat", S: one(perCall), Target: room1})
	}
	add(figure{ID: "S1b", Name: "caller SIPps' CPU / agent SIPps' CPU at the S1 rate", Unit: "cores", Tool: "/proc of the SIPp processes",
		S: one(callers), Note: fmt.Sprintf("agents %s cores", fmtNum(agents))})
	add(figure{ID: "S1c", Name: "time to answer (INVITE → 200) p99 at the S1 rate", Unit: "ms", Tool: toolSIPp + ", -trace_rtt", S: one(p99)})
	own := math.NaN()
	if b := r.best(); b != nil && b.HotlineAnswer99 > 0 {
		own = ms(b.HotlineAnswer99)
	}
	add(figure{ID: "S1d", Name: "Hotline's own part of the time to answer p99 at the S1 rate (its INVITE handler → the caller's 200, less the agent phone's INVITE → 200; upper bound of the histogram's bucket)", Unit: "ms",
		Tool: "hotline_answer_delay_seconds", S: one(own)})
	sock := math.NaN()
	if b := r.best(); b != nil && b.HotlineSockWait99 > 0 {
		sock = ms(b.HotlineSockWait99)
	}
	add(figure{ID: "S1e", Name: "SIP datagrams' wait in Hotline's UDP socket p99 at the S1 rate (every request and response; upper bound of the histogram's bucket)", Unit: "ms",
		Tool: "hotline_sip_socket_wait_seconds", S: one(sock)})
	if p := r.Profile; p != nil {
		p99 := math.NaN()
		if len(p.Step.AnswerTimes) > 0 {
			p99 = ms(DurationPercentile(p.Step.AnswerTimes, 99))
		}
		add(figure{ID: "S1f", Name: fmt.Sprintf("time to answer (INVITE → 200) p99 at 80%% of the S1 rate (%s calls/s: the profile step, with Hotline's CPU profile running)", fmtNum(p.Rate)),
			Unit: "ms", Tool: toolSIPp + ", -trace_rtt", S: one(p99), Target: &target{10, false, "p99 ≤ 10 ms (issue 15)"}})
	}
	conc, chot, csipp := math.NaN(), math.NaN(), math.NaN()
	if len(r.Conc) > 0 {
		conc = float64(r.ConcMax)
	}
	if b := r.bestConc(); b != nil {
		chot, csipp = b.HotlineCores, b.SIPpCores
	}
	s2 := figure{ID: "S2", Name: "concurrent recorded calls with SIPp, audio both ways, Hotline < 80% of 2 cores, 0 datagrams dropped at Hotline's sockets, none failed",
		Unit: "calls", Tool: toolSIPp, S: one(conc), Target: &target{2000, true, "≥ 2,000"}}
	if r.ConcCut != "" && r.ConcMax > 0 && r.ConcMax < 2000 {
		s2.Verdict = fmt.Sprintf("not reached: the ramp ended at %d calls, none failed (%s)", r.ConcMax, r.ConcCut)
	}
	add(s2)
	add(figure{ID: "S2a", Name: "Hotline CPU / all SIPps' CPU at the S2 load", Unit: "cores", Tool: "/proc", S: one(chot),
		Note: fmt.Sprintf("SIPps %s cores", fmtNum(csipp))})
	drops := math.NaN()
	if r.ConcStored > 0 {
		drops = float64(r.ConcDrops)
	}
	add(figure{ID: "S2b", Name: "packets dropped by Hotline's recorders over the S2 ramp", Unit: "packets",
		Tool: "call records (JSON) of the recordings", S: one(drops), Target: &target{0, false, "0"}})
	at := "at 2× the S1 rate"
	if o := r.Overload; o != nil {
		at = fmt.Sprintf("at 2× the S1 rate (%s calls/s offered)", fmtNum(o.Rate))
	}
	if r.FixedCPS > 0 {
		at = fmt.Sprintf("at a fixed %s calls/s offered (-overload-cps; the last of %d steps of %s)", fmtNum(r.FixedCPS), len(r.FixedSteps), r.FixedStep)
	}
	figs = append(figs, overloadFigures("S3", r.Overload, at)...)
	if r.FixedCPS <= 0 {
		at := "at 2× the S1 rate with sip.overload.max_cps at ⅝ of S1, set by a reload"
		if o := r.OverloadBound; o != nil {
			at = fmt.Sprintf("at 2× the S1 rate (%s calls/s offered) with sip.overload.max_cps %s (⅝ of S1), set by a reload", fmtNum(o.Rate), fmtNum(r.BoundCPS))
		}
		figs = append(figs, overloadFigures("S3c", r.OverloadBound, at)...)
	}
	return figs
}

// overloadFigures are figure id's (S3, S3c) from its overload step o
// (nil: not taken), at says at what load.
func overloadFigures(id string, o *sippRateStep, at string) []figure {
	var figs []figure
	add := func(f figure) { f.ID = id; figs = append(figs, f) }
	refused, afail, ap99, r99, rdrops, clip := math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
	if o != nil && o.Created > 0 {
		rdrops = float64(o.RecDropped)
		if o.Stored > 0 {
			clip = 100 * float64(len(o.Clipped)) / float64(o.Stored)
		}
		if len(o.RefuseTimes) > 0 {
			r99 = ms(DurationPercentile(o.RefuseTimes, 99))
		}
		refused = 100 * float64(o.Refused) / float64(o.Created)
		if adm := o.Created - o.Refused; adm > 0 {
			afail = 100 * float64(o.Failed+o.Abandoned) / float64(adm)
		}
		if len(o.AnswerTimes) > 0 {
			ap99 = ms(DurationPercentile(o.AnswerTimes, 99))
		}
	}
	add(figure{Name: "overload: calls refused at once (503) " + at, Unit: "%", Tool: toolSIPp, S: one(refused)})
	add(figure{Name: "overload: admitted calls that failed or never reached an agent " + at, Unit: "%", Tool: toolSIPp, S: one(afail),
		Target: &target{0.1, false, "< 0.1%"}})
	add(figure{Name: "overload: time to answer p99 of admitted calls " + at, Unit: "ms", Tool: toolSIPp + ", -trace_rtt",
		S: one(ap99), Target: &target{100, false, "p99 < 100 ms"}})
	oa99 := math.NaN()
	if o != nil && o.HotlineAnswer99 > 0 {
		oa99 = ms(o.HotlineAnswer99)
	}
	add(figure{Name: "overload: Hotline's own part of the time to answer p99 of admitted calls (hotline_answer_delay_seconds, bucket bound) " + at, Unit: "ms",
		Tool: "hotline_answer_delay_seconds", S: one(oa99)})
	add(figure{Name: "overload: time to the 503 (INVITE → 503) p99 of refused calls " + at, Unit: "ms", Tool: toolSIPp + ", -trace_rtt",
		S: one(r99), Target: &target{10, false, "p99 < 10 ms"}})
	h99 := math.NaN()
	if o != nil && o.HotlineRefuse99 > 0 {
		h99 = ms(o.HotlineRefuse99)
	}
	add(figure{Name: "overload: time to the 503 p99 as Hotline measures it (the INVITE's arrival in its SIP socket → the door's 503 sent; upper bound of the histogram's bucket) " + at, Unit: "ms",
		Tool: "hotline_calls_refused_seconds", S: one(h99), Target: &target{10, false, "p99 < 10 ms"}})
	add(figure{Name: "overload: packets dropped by Hotline's recorders " + at, Unit: "packets",
		Tool: "call records (JSON) of the recordings", S: one(rdrops), Target: &target{0, false, "0"}})
	add(figure{Name: "overload: admitted calls recorded with a side holding less than half its audio (the media relay behind; packets still queued in Hotline's sockets at the hang-up) " + at, Unit: "%",
		Tool: "call records (JSON) of the recordings", S: one(clip), Target: &target{0.1, false, "< 0.1%"}})
	return figs
}

func (r *sippResults) writeDetails(w io.Writer) {
	fmt.Fprintf(w, "### SIPp figures (S0-S3; took %s)\n\n", r.Took.Round(1e9))
	if r.Note != "" {
		fmt.Fprintf(w, "Not measured in full: %s\n\n", r.Note)
	}
	if d := r.Direct; d != nil {
		fmt.Fprintf(w, "S0, the SIPps alone at %s calls/s (no Hotline): %d calls placed, %d failed; over %s of the calls talking the machine's %d CPUs were %.0f%% busy, the SIPps' own CPU %.2f cores",
			fmtNum(d.Rate), d.Created, d.Failed, d.Window, d.CPUs, 100*d.MachineBusy, d.SIPpCores)
		if d.Err != "" {
			fmt.Fprintf(w, " (%s)", d.Err)
		}
		fmt.Fprint(w, ".\n\n")
	}
	if p := r.Creates; p != nil {
		fmt.Fprintf(w, "Before Hotline started, %s.\n\n", p)
	}
	c := r.Cfg
	fmt.Fprintf(w, "%d agents registered by SIPp (digest auth, injection file), %d per agent SIPp; a caller SIPp places at most %s calls/s (more callers beyond). "+
		"Rate steps place calls for %s, each talking %s with PCMU both ways.\n\n", c.Agents, c.AgentsPerUAS, fmtNum(c.RatePerUAC), c.StepDur, c.Hold)
	fmt.Fprintln(w, "| step | calls/s | planned | placed | answered | answered without a 180 first (queued, or the agent's 180 overtaken by its 200) | refused (503) | failed after admission | answer p50/p99 ms | recordings stored / with audio both ways / a side with less than half its audio | recorder drops | Hotline cores | caller SIPps (cores each) | agent SIPps cores | result |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---|---:|---|")
	row := func(name string, s sippRateStep) {
		res := "pass"
		if !s.pass() {
			res = "FAIL: " + s.why()
		}
		var each []string
		for _, x := range s.UACCores {
			each = append(each, fmt.Sprintf("%.2f", x))
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d | %d | %d | %.1f / %.1f | %d / %d / %d | %d | %.2f | %d (%s) | %.2f | %s |\n", name, fmtNum(s.Rate),
			s.Planned, s.Created, s.Answered, max(s.Answered-s.Rang, 0), s.Refused, s.Failed, ms(DurationPercentile(s.AnswerTimes, 50)),
			ms(DurationPercentile(s.AnswerTimes, 99)), s.Stored, s.WithAudio, len(s.Clipped), s.RecDropped, s.Cores, s.UACs,
			strings.Join(each, ", "), s.UASCores, res)
	}
	for i, s := range r.RateSteps {
		row(fmt.Sprintf("S1 #%d", i+1), s)
	}
	for _, n := range r.laterSteps() {
		row(n.name, n.s)
	}
	fmt.Fprintln(w)
	if r.RateLimit != "" {
		fmt.Fprintf(w, "- S1 limit: %s\n", r.RateLimit)
	}
	list := func(name string, s sippRateStep) {
		fmt.Fprintf(w, "- %s (%s calls/s): Hotline's call records: %d connected to an agent, %d answered in the queue but never reached an agent (not recorded: recording starts at the bridge; counted as failed), %d answered calls without a call record\n",
			name, fmtNum(s.Rate), s.Connected, s.Abandoned, s.NoRecord)
		if len(s.Unrecorded) > 0 {
			fmt.Fprintf(w, "- %s (%s calls/s): %d calls connected to an agent without a recording: %s\n", name, fmtNum(s.Rate),
				len(s.Unrecorded), firstN(s.Unrecorded, 5))
		}
		if len(s.NoAudio) > 0 {
			fmt.Fprintf(w, "- %s (%s calls/s): %d recordings with a silent side (agent talked >= %s): %s\n", name, fmtNum(s.Rate),
				len(s.NoAudio), minTalkBothSides, firstN(s.NoAudio, 5))
		}
		if len(s.Clipped) > 0 {
			fmt.Fprintf(w, "- %s (%s calls/s): %d recordings with a side holding less than half its audio (the media relay behind): %s\n", name, fmtNum(s.Rate),
				len(s.Clipped), firstN(s.Clipped, 5))
		}
		if len(s.ShortSilent) > 0 {
			fmt.Fprintf(w, "- %s (%s calls/s): %d recordings with a silent side whose agent talked < %s (the echo had no time to come back; not judged): %s\n",
				name, fmtNum(s.Rate), len(s.ShortSilent), minTalkBothSides, firstN(s.ShortSilent, 5))
		}
	}
	for i, s := range r.RateSteps {
		list(fmt.Sprintf("S1 #%d", i+1), s)
	}
	for _, n := range r.laterSteps() {
		list(n.name, n.s)
	}
	writeSeconds(w, r)
	if r.Log != "" {
		fmt.Fprintf(w, "- Hotline's log of the SIPp run (level warn) is kept in `%s` (not committed).\n", r.Log)
	}
	if r.Relay != "" {
		fmt.Fprintf(w, "- RTP relayed %s.\n", r.Relay)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Concurrency ramp (S2): calls placed at %s calls/s, %s window per step; every call talks until the ramp's end.\n\n",
		fmtNum(c.ConcRate), c.Measure)
	fmt.Fprintln(w, "| calls | up | failed | Hotline cores | SIPps cores | machine busy | dropped at Hotline's sockets | dropped at the agent SIPps' sockets | RcvbufErrors (machine) | dropped by Hotline's recorders (of them, ring full) | result |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, s := range r.Conc {
		res := "pass"
		if !s.pass() {
			res = "FAIL: " + s.why()
		}
		fmt.Fprintf(w, "| %d | %d | %d | %.2f | %.2f | %.0f%% | %d | %d | %d | %d (%d) | %s |\n", s.Target, s.Up, s.Failed, s.HotlineCores, s.SIPpCores,
			100*s.MachineBusy, s.HotlineDrops, s.AgentDrops, s.RcvbufErrors, s.RecDropped, s.RingFull, res)
	}
	fmt.Fprintln(w)
	if len(r.Conc) > 0 {
		fmt.Fprintf(w, "- S2: max %d calls", r.ConcMax)
		if r.ConcLimit != "" {
			fmt.Fprintf(w, ", stopped by: %s", r.ConcLimit)
		}
		fmt.Fprintf(w, ". Recordings: %d calls answered, %d stored, %d with audio both ways, %d packets dropped by recorders",
			r.ConcCalls, r.ConcStored, r.ConcAudio, r.ConcDrops)
		if after := r.concDropsAfter(); after > 0 {
			fmt.Fprintf(w, " (%d of them after the last step's window: the calls held to the ramp's end, then hung up)", after)
		}
		fmt.Fprintf(w, ", %d packets missing against 50 packets/s per side of each call's length", r.ConcMissed)
		if r.ConcErr != "" {
			fmt.Fprintf(w, " (%s)", r.ConcErr)
		}
		fmt.Fprintln(w, ".")
		fmt.Fprintln(w)
	}
	if p := r.Profile; p != nil {
		fmt.Fprintf(w, "#### Hotline CPU profile under SIPp load (%d s at %s calls/s, /debug/pprof/profile)\n\n", p.Seconds, fmtNum(p.Rate))
		if p.Err != "" {
			fmt.Fprintf(w, "Not taken: %s\n\n", p.Err)
		} else {
			fmt.Fprintf(w, "Profile file: `%s` (not committed; `go tool pprof` it with the binary built from the commit above).\n\n", p.Rel)
			fmt.Fprintln(w, "Where the CPU went (the profile's samples under each group's functions; groups overlap):")
			fmt.Fprintln(w)
			fmt.Fprintln(w, "| part of the call | CPU s | share |")
			fmt.Fprintln(w, "|---|---:|---:|")
			for _, g := range p.Groups {
				if g.Share < 0 {
					fmt.Fprintf(w, "| %s | n/a | n/a |\n", g.Name)
					continue
				}
				fmt.Fprintf(w, "| %s | %.2f | %.1f%% |\n", g.Name, g.Seconds, g.Share)
			}
			fmt.Fprintln(w)
			fmt.Fprintf(w, "```\n%s\n```\n\n```\n%s\n```\n\n", trimPprof(p.TopFlat), trimPprof(p.TopCum))
		}
	}
}

// trimPprof drops go tool pprof's preamble lines about files.
func trimPprof(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

const sippMethodText = `### How the SIPp figures were measured

- SIPp 3.6.1 (Debian sip-tester) runs the scenarios in bench/sipp. register.xml registers the agents with
  digest auth from an injection file, one SIPp per group of agents; once it exits, agent.xml binds the same
  port (the registrations' Contact) and answers every INVITE with 180 and 200, and -rtp_echo sends back
  every RTP packet Hotline sends it. caller.xml places the calls: PCMU from a port of its own per call
  (rtp_stream looping one second of a tone that hotline-load writes), BYE after -d.
- S0 runs before Hotline starts: the calls of an S1 step at the rate S1 aims for, placed by the same caller
  SIPps straight to an agent SIPp (no Hotline between them, no registration), audio both ways. The machine's
  CPUs busy over the calls' steady window (/proc/stat, the kernel's work included) is what the load generator
  alone takes of this machine at that rate; the idle rest, per call, is the most CPU a call may cost Hotline
  (user, system and the kernel's delivery of its packets) for S1 to reach that rate here (S0a).
- S1 searches the highest rate (doubling, then bisection; bounded in steps and time) where fewer than 0.1% of
  the calls fail (refused, failed after admission, answered in the queue but hung up before an agent was
  bridged, or not placed), Hotline has a call record of every answered call, every call its records show
  connected to an agent has its WAV and recording's call record on disk, with audio from both sides (the
  received packets per channel) once the agent talked 0.5 s, and no caller SIPp is saturated. (Recording
  starts at the bridge: a caller answered in the queue who hangs up before an agent is not recorded.) Answer times are SIPp's response time INVITE → 200 (-trace_rtt).
- S2 adds long calls step by step and measures Hotline's, and every SIPp's, CPU over the window
  (/proc/<pid>/stat), the machine's, and the datagrams dropped at Hotline's own sockets (the drops column of
  /proc/net/udp for the sockets Hotline holds). The machine-wide Udp RcvbufErrors are shown but not judged:
  SIPp's rtp_stream never reads the audio sent to a caller, so the callers' sockets overflow. SIPp does not
  count lost RTP; the call records do (received packets per side against the call's length, and the
  recorders' drops).
- S3 offers twice the S1 rate for one step: calls Hotline refuses at once (503) are counted apart from
  the admitted calls that then fail.
- S3c offers twice the S1 rate again, with sip.overload.max_cps set to five eighths of S1 by a
  configuration reload (SIGHUP) before the step, as an operator would set it, and taken out after it.
- SIPp runs on the same cores as Hotline: the CPU of the SIPps is reported next to Hotline's.

`

// namedStep is a SIPp step with its label in the report.
type namedStep struct {
	name string
	s    sippRateStep
}

// laterSteps are the SIPp steps after the S1 search, labelled: the
// overload steps (S3, or the fixed-rate ones), S3c and the profile step.
func (r *sippResults) laterSteps() []namedStep {
	var steps []namedStep
	if r.FixedCPS > 0 {
		for i, o := range r.FixedSteps {
			steps = append(steps, namedStep{fmt.Sprintf("S3 (fixed, %d)", i+1), o})
		}
	} else if r.Overload != nil {
		steps = append(steps, namedStep{"S3 (2×)", *r.Overload})
	}
	if o := r.OverloadBound; o != nil {
		steps = append(steps, namedStep{fmt.Sprintf("S3c (2×, max_cps %s)", fmtNum(r.BoundCPS)), *o})
	}
	if r.Profile != nil {
		steps = append(steps, namedStep{"profile (80% of S1)", r.Profile.Step})
	}
	return steps
}

// writeSeconds writes the steps after S1 (the overload steps, S3c and
// the profile step at 80% of S1) second by second, by when the INVITEs
// were sent: whether the slow answers came before the signals tripped
// (the first seconds), in one stall, or all through the step.
func writeSeconds(w io.Writer, r *sippResults) {
	steps := r.laterSteps()
	var rows []string
	for _, n := range steps {
		for i, x := range n.s.Seconds {
			rows = append(rows, fmt.Sprintf("| %s | %d | %d | %d | %.0f | %d | %d | %.0f |", n.name, i, x.Answered, x.SlowAnswers, ms(x.Answer99),
				x.Refused, x.SlowRefusals, ms(x.Refuse99)))
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nThe steps after S1 (overload, profile at 80%% of S1) second by second (by when the INVITE was sent; p99 0 where none):\n\n")
	fmt.Fprintf(w, "| step | second | answered | answered in > %s | answer p99 ms | refused (503) | refused in > %s | 503 p99 ms |\n", slowAnswer, slowRefusal)
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, row := range rows {
		fmt.Fprintln(w, row)
	}
	fmt.Fprintln(w)
}

// concDropsAfter is how many of the ramp's recorder drops (ConcDrops, from
// the call records) no step's row shows: each step counts from its start
// to its window's end, so what is left came after the last window, while
// the calls held on to the ramp's end and were hung up. (The two come
// from different sources, the records and Hotline's metrics: 0 when the
// rows add up to more.)
func (r *sippResults) concDropsAfter() uint64 {
	var in uint64
	for _, s := range r.Conc {
		in += s.RecDropped
	}
	if r.ConcDrops > in {
		return r.ConcDrops - in
	}
	return 0
}
