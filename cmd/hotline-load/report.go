package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// target is a figure's goal from issue 6.
type target struct {
	Value  float64
	Higher bool // higher is better (else lower is)
	Text   string
}

// figure is one line of the summary table.
type figure struct {
	ID, Name, Tool, Unit string
	S                    Summary
	Target               *target
	Note                 string
	// Verdict, when set, replaces verdict(S, Target): for a figure whose
	// measurement ended before it could reach its target, where "missed"
	// would blame Hotline for the bench's own bound.
	Verdict string
}

// verdict says whether the median meets the target and by how much.
func verdict(s Summary, t *target) string {
	if t == nil {
		return "—"
	}
	if s.N == 0 || math.IsNaN(s.Median) {
		return "not measured"
	}
	m := s.Median
	if t.Higher {
		if m >= t.Value {
			return fmt.Sprintf("met (%.2fx the target)", m/t.Value)
		}
		return fmt.Sprintf("missed by %.0f%% (%.2fx the target)", 100*(t.Value-m)/t.Value, m/t.Value)
	}
	if m <= t.Value {
		if m == 0 {
			return "met"
		}
		return fmt.Sprintf("met (%.0f%% of the limit)", 100*m/t.Value)
	}
	if t.Value == 0 {
		return fmt.Sprintf("missed (%s instead of 0)", fmtNum(m))
	}
	return fmt.Sprintf("missed by %.0f%% (%.2fx the limit)", 100*(m-t.Value)/t.Value, m/t.Value)
}

// fmtNum prints a number compactly: integers without decimals, small
// values with three significant digits.
func fmtNum(x float64) string {
	switch {
	case math.IsNaN(x):
		return "n/a"
	case x == math.Trunc(x) && math.Abs(x) < 1e15:
		return fmt.Sprintf("%.0f", x)
	case math.Abs(x) >= 100:
		return fmt.Sprintf("%.0f", x)
	case math.Abs(x) >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.3g", x)
	}
}

// writeFigures writes the summary table.
func writeFigures(w io.Writer, figs []figure) {
	fmt.Fprintln(w, "| # | figure | tool | min | median | max | n | target | verdict (median) |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---|---|")
	for _, f := range figs {
		tt := "—"
		if f.Target != nil {
			tt = f.Target.Text
		}
		name := f.Name
		if f.Unit != "" {
			name += " (" + f.Unit + ")"
		}
		if f.Note != "" {
			name += " — " + f.Note
		}
		v := f.Verdict
		if v == "" {
			v = verdict(f.S, f.Target)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d | %s | %s |\n", f.ID, name, f.Tool,
			fmtNum(f.S.Min), fmtNum(f.S.Median), fmtNum(f.S.Max), f.S.N, tt, v)
	}
}

const (
	toolGo    = "hotline-load (Go, sipgo + sendmmsg RTP)"
	toolRelay = "hotline-load relay (bare Go relay) driven by hotline-load"
	toolProc  = "/proc of the Hotline process"
	toolGoTst = "go test -bench"
)

// p99ms is the 99th percentile of ds in ms, "—" when there are none.
func p99ms(ds []time.Duration) string {
	if len(ds) == 0 {
		return "—"
	}
	return fmtNum(ms(DurationPercentile(ds, 99)))
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// figures turns the results into the summary table.
func (r *results) figures() []figure {
	var figs []figure
	if !r.Cfg.GoFigures {
		if r.SIPp != nil {
			figs = r.SIPp.figures()
		}
		if r.Cluster != nil {
			figs = append(figs, r.Cluster.figures()...)
		}
		if r.Xfer != nil {
			figs = append(figs, r.Xfer.figures()...)
		}
		return figs
	}
	add := func(f figure) { figs = append(figs, f) }
	add(figure{ID: "1", Name: "call rate, file backend, < 0.1% refused (503) and < 0.1% of the admitted failed", Unit: "calls/s", Tool: toolGo,
		S: Summarize(r.RateReps), Target: &target{1000, true, "≥ 1,000"}})
	if len(r.Overload) > 0 {
		at := fmt.Sprintf("at 2× the figure-1 rate (%s calls/s offered)", fmtNum(r.Overload[0].Rate))
		if r.Cfg.OverloadCPS > 0 {
			at = fmt.Sprintf("at a fixed %s calls/s offered (-overload-cps)", fmtNum(r.Cfg.OverloadCPS))
		}
		var refused, failed, a99, r99, h99 []float64
		for _, o := range r.Overload {
			refused = append(refused, 100*o.refusedShare())
			failed = append(failed, 100*o.failedShare())
			if len(o.To200) > 0 {
				a99 = append(a99, ms(DurationPercentile(o.To200, 99)))
			}
			if len(o.RefuseTimes) > 0 {
				r99 = append(r99, ms(DurationPercentile(o.RefuseTimes, 99)))
			}
			if o.HotlineRefuse99 > 0 {
				h99 = append(h99, ms(o.HotlineRefuse99))
			}
		}
		add(figure{ID: "1o", Name: "overload: calls refused at once (503) " + at, Unit: "%", Tool: toolGo,
			S: Summarize(refused)})
		add(figure{ID: "1o", Name: "overload: admitted calls that failed " + at, Unit: "%", Tool: toolGo,
			S: Summarize(failed), Target: &target{0.1, false, "< 0.1%"}})
		add(figure{ID: "1o", Name: "overload: INVITE → 200 p99 of admitted calls " + at, Unit: "ms", Tool: toolGo,
			S: Summarize(a99), Target: &target{100, false, "p99 < 100 ms"}})
		add(figure{ID: "1o", Name: "overload: INVITE → 503 p99 of refused calls " + at, Unit: "ms", Tool: toolGo,
			S: Summarize(r99), Target: &target{10, false, "p99 < 10 ms"}})
		add(figure{ID: "1o", Name: "overload: time to the 503 p99 as Hotline measures it (the INVITE's arrival in its SIP socket → the door's 503 sent; upper bound of the histogram's bucket; the rest of the line above is the generator's) " + at, Unit: "ms",
			Tool: "hotline_calls_refused_seconds", S: Summarize(h99), Target: &target{10, false, "p99 < 10 ms"}})
	}
	if len(r.MinIORate) > 0 || r.MinIONote != "" {
		add(figure{ID: "1b", Name: "call rate, MinIO (S3) backend", Unit: "calls/s", Tool: toolGo,
			S: Summarize(r.MinIORate), Target: &target{1000, true, "≥ 1,000"}, Note: r.MinIONote})
	}
	var conc, cores, extrap, hot, bare, ratio, d99, dmax, j99, jmax, loss, bd99, rssCall []float64
	for _, c := range r.Conc {
		conc = append(conc, float64(c.Max))
		b := c.best()
		if b == nil {
			continue
		}
		cores = append(cores, b.HotlineCores)
		if b.HotlineCores > 0 {
			extrap = append(extrap, float64(b.Calls)*cpuLimitCores/b.HotlineCores)
		}
		var hp float64 = math.NaN()
		if b.PacketsRelayed > 0 {
			hp = us(b.HotlineCPU) / float64(b.PacketsRelayed)
			hot = append(hot, hp)
		}
		if c.Relay != nil && c.Relay.Window.Received > 0 {
			bp := us(c.Relay.CPU) / float64(c.Relay.Window.Received)
			bare = append(bare, bp)
			if bp > 0 && !math.IsNaN(hp) {
				ratio = append(ratio, hp/bp)
			}
			bd99 = append(bd99, float64(c.Relay.Window.Delay.Percentile(99)))
		}
		d99 = append(d99, float64(b.Window.Delay.Percentile(99)))
		dmax = append(dmax, float64(b.Window.Delay.Max()))
		j99 = append(j99, float64(b.Window.IPDV.Percentile(99)))
		jmax = append(jmax, float64(b.Window.IPDV.Max()))
		loss = append(loss, float64(b.Window.Lost()))
		if b.Calls > 0 && r.IdleRSS > 0 {
			rssCall = append(rssCall, float64(b.RSS-r.IdleRSS)/1024/float64(b.Calls))
		}
	}
	add(figure{ID: "2", Name: "concurrent recorded calls, audio both ways, Hotline < 80% of 2 cores, 0 RcvbufErrors, 0 loss", Unit: "calls",
		Tool: toolGo, S: Summarize(conc), Target: &target{2000, true, "≥ 2,000"}})
	var drops []float64
	for _, c := range r.Conc {
		if c.RecordsRead > 0 {
			drops = append(drops, float64(c.RecDropped))
		}
	}
	add(figure{ID: "2c", Name: "packets dropped by Hotline's recorders over the figure-2 ramp (audio missing from recordings)",
		Unit: "packets", Tool: "call records (JSON) of the recordings", S: Summarize(drops), Target: &target{0, false, "0"}})
	add(figure{ID: "2a", Name: "Hotline CPU at the figure-2 load", Unit: "cores", Tool: toolProc, S: Summarize(cores),
		Target: &target{cpuLimitCores, false, "< 1.6"}})
	add(figure{ID: "2b", Name: "extrapolation: calls at 1.6 cores if Hotline had the box alone (linear)", Unit: "calls", Tool: "computed from 2 and 2a",
		S: Summarize(extrap), Target: &target{2000, true, "≥ 2,000"}})
	add(figure{ID: "3a", Name: "Hotline CPU per relayed RTP packet (recording on)", Unit: "µs", Tool: toolProc, S: Summarize(hot),
		Target: &target{5, false, "≤ 5 µs"}})
	add(figure{ID: "3b", Name: "bare relay CPU per relayed packet", Unit: "µs", Tool: toolRelay, S: Summarize(bare)})
	add(figure{ID: "3c", Name: "ratio Hotline / bare relay", Unit: "x", Tool: "computed", S: Summarize(ratio),
		Target: &target{1.5, false, "≤ 1.5x"}})
	for _, pct := range []int{50, 80} {
		var p50, p99, a50, a99 []float64
		rate := math.NaN()
		for _, s := range r.Latency[pct] {
			rate = s.Rate
			if len(s.To180) > 0 {
				p50 = append(p50, ms(DurationPercentile(s.To180, 50)))
				p99 = append(p99, ms(DurationPercentile(s.To180, 99)))
			}
			if len(s.ToAgent) > 0 {
				a50 = append(a50, ms(DurationPercentile(s.ToAgent, 50)))
				a99 = append(a99, ms(DurationPercentile(s.ToAgent, 99)))
			}
		}
		at := fmt.Sprintf("at %d%% of max (%s calls/s)", pct, fmtNum(rate))
		add(figure{ID: "4", Name: "INVITE → 180, p50, " + at, Unit: "ms", Tool: toolGo, S: Summarize(p50)})
		add(figure{ID: "4", Name: "INVITE → 180, p99, " + at, Unit: "ms", Tool: toolGo, S: Summarize(p99),
			Target: &target{2, false, "p99 ≤ 2 ms"}})
		add(figure{ID: "4", Name: "INVITE → agent's INVITE, p50, " + at, Unit: "ms", Tool: toolGo, S: Summarize(a50)})
		add(figure{ID: "4", Name: "INVITE → agent's INVITE, p99, " + at, Unit: "ms", Tool: toolGo, S: Summarize(a99),
			Target: &target{10, false, "p99 ≤ 10 ms"}})
	}
	add(figure{ID: "5", Name: "one-way relay delay p99 at the figure-2 load", Unit: "µs", Tool: toolGo + ", kernel rx timestamps",
		S: Summarize(d99), Target: &target{1000, false, "p99 < 1 ms"}})
	add(figure{ID: "5", Name: "one-way relay delay max", Unit: "µs", Tool: toolGo, S: Summarize(dmax)})
	add(figure{ID: "5", Name: "jitter added (IPDV, RFC 3393) p99", Unit: "µs", Tool: toolGo, S: Summarize(j99)})
	add(figure{ID: "5", Name: "jitter added (IPDV) max", Unit: "µs", Tool: toolGo, S: Summarize(jmax)})
	add(figure{ID: "5", Name: "packets lost in the measurement window", Unit: "packets", Tool: toolGo, S: Summarize(loss),
		Target: &target{0, false, "0"}})
	add(figure{ID: "5", Name: "bare relay delay p99, same load (floor)", Unit: "µs", Tool: toolRelay, S: Summarize(bd99)})
	add(figure{ID: "6", Name: "RSS per concurrent recorded call (incl. recording buffers)", Unit: "KiB", Tool: toolProc,
		S: Summarize(rssCall), Target: &target{64, false, "< 64 KiB + recording buffer"}})
	var rssCPS []float64
	for _, s := range r.Latency[80] {
		if s.Rate > 0 && s.RSS > 0 {
			rssCPS = append(rssCPS, float64(s.RSS-s.IdleRSS)/1024/s.Rate)
		}
	}
	add(figure{ID: "6", Name: "RSS per call-per-second of load (80% of max rate, 1 s calls)", Unit: "KiB", Tool: toolProc, S: Summarize(rssCPS)})
	if r.SIPp != nil {
		figs = append(figs, r.SIPp.figures()...)
	}
	if r.Cluster != nil {
		figs = append(figs, r.Cluster.figures()...)
	}
	if r.Xfer != nil {
		figs = append(figs, r.Xfer.figures()...)
	}
	return figs
}

// writeReport writes the whole report in Markdown.
func (r *results) writeReport(w io.Writer) {
	m := r.Machine
	mode := "default"
	if r.Cfg.Quick {
		mode = "quick (BENCH_QUICK=1)"
	}
	fmt.Fprintf(w, "# Hotline benchmark — %s, %s\n\n", r.Started.Format("2006-01-02"), m.Host)
	fmt.Fprintf(w, "Generated by `make bench` (`hotline-load bench`), mode %s, %d repetition(s) per figure, took %s.\n\n",
		mode, r.Cfg.Reps, r.Finished.Sub(r.Started).Round(time.Second))
	fmt.Fprintln(w, "## Machine")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- CPU: %s, %d logical cores\n", m.CPU, m.Cores)
	fmt.Fprintf(w, "- Memory: %.1f GiB\n", float64(m.MemBytes)/(1<<30))
	fmt.Fprintf(w, "- Kernel: %s\n", m.Kernel)
	fmt.Fprintf(w, "- Go: %s\n", m.GoVersion)
	fmt.Fprintf(w, "- Commit: %s\n", m.Commit)
	if m.Creates != nil {
		fmt.Fprintf(w, "- File creates at the start: %s\n", m.Creates)
	}
	if r.Cfg.Overload != "" {
		fmt.Fprintf(w, "- Hotline's sip.overload: %s (-overload)\n", r.Cfg.Overload)
	}
	if r.Cfg.RTPReaders != "" {
		fmt.Fprintf(w, "- Hotline's rtp.readers: %s (-rtp-readers)\n", r.Cfg.RTPReaders)
	}
	if r.Cfg.RTPKernel != "" {
		fmt.Fprintf(w, "- Hotline's rtp.kernel: %s (-rtp-kernel)\n", r.Cfg.RTPKernel)
	}
	if r.Cfg.HotlineLog != "" {
		fmt.Fprintf(w, "- Hotline's log level: %s (-hotline-log)\n", r.Cfg.HotlineLog)
	}
	if len(r.Cfg.HotlineEnv) > 0 {
		fmt.Fprintf(w, "- Hotline's environment adds: %s (-hotline-env)\n", strings.Join(r.Cfg.HotlineEnv, " "))
	}
	fmt.Fprintln(w, "- Everything (Hotline, load generator, bare relay, MinIO) ran on this machine, on 127.0.0.1. Only Hotline's own CPU")
	fmt.Fprintln(w, "  (utime+stime from /proc/<pid>/stat) counts against its limits, but the load generator competes for the same cores.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Figures")
	fmt.Fprintln(w)
	writeFigures(w, r.figures())
	fmt.Fprintln(w)
	if r.Cfg.GoFigures {
		fmt.Fprint(w, methodText)
	}
	if r.SIPp != nil {
		fmt.Fprint(w, sippMethodText)
	}
	if r.Cfg.GoFigures {
		r.writeDetails(w)
	}
	if r.SIPp != nil {
		r.SIPp.writeDetails(w)
	}
	if r.Cluster != nil {
		r.Cluster.writeDetails(w)
	}
	if r.Xfer != nil {
		r.Xfer.writeDetails(w)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "## Notes from the run")
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		fmt.Fprintln(w)
	}
	if !r.Cfg.GoFigures {
		return
	}
	fmt.Fprintln(w, "## 7. Routing decision (routing package benchmarks)")
	fmt.Fprintln(w)
	if r.RoutingErr != "" {
		fmt.Fprintf(w, "The benchmark run failed: %s\n\n", r.RoutingErr)
	}
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w, strings.TrimSpace(r.Routing))
	fmt.Fprintln(w, "```")
	fmt.Fprintln(w)
}

func (r *results) writeDetails(w io.Writer) {
	fmt.Fprintln(w, "## Details")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "### Call-rate steps (figure 1; %s of launches, calls held %s with audio both ways, pass = < 0.1%% refused (503), < 0.1%% of the admitted calls failed, generator on schedule, every call connected to an agent recorded: one whose agent's answer was acknowledged, unless Hotline's call record says it never connected)\n\n",
		r.Cfg.StepDur, r.Cfg.Hold)
	fmt.Fprintln(w, "| rep | backend | calls/s | calls | refused (503) | admitted then failed | 200 without a 180 first | INVITE→180 p50/p99 ms | INVITE→200 p99 ms | INVITE→503 p99 ms | recordings uploaded / calls connected to an agent | Hotline CPU s | result |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---|")
	row := func(rep, backend string, s rateStep) {
		res := "pass"
		if !s.pass() {
			res = "FAIL: " + s.why()
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %d | %d | %d | %d | %.2f / %.2f | %s | %s | %d/%d | %.1f | %s |\n", rep, backend, s.Rate, s.Attempted, s.Refused, s.Failed,
			s.Queued, ms(DurationPercentile(s.To180, 50)), ms(DurationPercentile(s.To180, 99)),
			p99ms(s.To200), p99ms(s.RefuseTimes), s.Uploaded, s.Expected,
			s.HotlineCPU.Seconds(), res)
	}
	for i, steps := range r.RateSteps {
		for _, s := range steps {
			row(fmt.Sprint(i+1), "file", s)
		}
	}
	for i, o := range r.Overload {
		row(fmt.Sprintf("%d (2× overload)", i+1), "file", o)
	}
	for _, pct := range []int{50, 80} {
		for i, s := range r.Latency[pct] {
			row(fmt.Sprintf("%d (fig. 4, %d%%)", i+1, pct), "file", s)
		}
	}
	for _, s := range r.MinIOSteps {
		row("1", "MinIO", s)
	}
	fmt.Fprintln(w)
	for i, limit := range r.RateLimits {
		if limit != "" {
			fmt.Fprintf(w, "- Figure 1, repetition %d, limit: %s\n", i+1, limit)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "### Concurrent-call ramp (figures 2, 3, 5, 6; %s measurement window per step)\n\n", r.Cfg.Measure)
	fmt.Fprintln(w, "| rep | calls | Hotline cores | load generator cores | machine busy | RcvbufErrors | packets sent | lost | delay p50/p99/max µs | IPDV p99 µs | Hotline µs/packet | RSS MiB | result |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|")
	for i, c := range r.Conc {
		for _, s := range c.Steps {
			res := "pass"
			if !s.pass() {
				res = "FAIL: " + s.why()
			}
			per := math.NaN()
			if s.PacketsRelayed > 0 {
				per = us(s.HotlineCPU) / float64(s.PacketsRelayed)
			}
			fmt.Fprintf(w, "| %d | %d | %.2f | %.2f | %.0f%% | %d | %d | %d | %d / %d / %d | %d | %s | %.0f | %s |\n", i+1, s.Calls,
				s.HotlineCores, s.LoadgenCores, 100*s.MachineBusy, s.RcvbufErrors, s.Window.Sent, s.Window.Lost(),
				s.Window.Delay.Percentile(50), s.Window.Delay.Percentile(99), s.Window.Delay.Max(), s.Window.IPDV.Percentile(99),
				fmtNum(per), float64(s.RSS)/(1<<20), res)
		}
	}
	fmt.Fprintln(w)
	for i, c := range r.Conc {
		fmt.Fprintf(w, "- Repetition %d: max %d calls", i+1, c.Max)
		if c.Limit != "" {
			fmt.Fprintf(w, ", stopped by: %s", c.Limit)
		}
		fmt.Fprintf(w, ". Recordings: %d calls bridged, %d answered by agents, %d uploaded, %d call records read, %d packets dropped by recorders",
			c.Bridged, c.AgentAnswered, c.Uploaded, c.RecordsRead, c.RecDropped)
		if c.RecordingErr != "" {
			fmt.Fprintf(w, " (%s)", c.RecordingErr)
		}
		if c.Uploaded < c.Bridged {
			fmt.Fprintf(w, " — %d RECORDINGS MISSING", c.Bridged-c.Uploaded)
		}
		fmt.Fprintln(w, ".")
		if rr := c.Relay; rr != nil {
			fmt.Fprintf(w, "  Bare relay, %d pairs: %.2f cores, %d packets, %s µs/packet (Hotline %s µs/packet), delay p99 %d µs, lost %d.\n",
				rr.Pairs, rr.Cores, rr.Window.Received, fmtNum(us(rr.PerPkt)), fmtNum(us(rr.Hotline)),
				rr.Window.Delay.Percentile(99), rr.Window.Lost())
		}
	}
	fmt.Fprintln(w)
}

const methodText = `### How these were measured

- Callers and agents are hotline-load: sipgo v1.7.2 user agents (one UDP socket for all callers, one for all
  agents; agents REGISTER with digest auth and answer each INVITE with 180, then 200 + SDP 10 ms later) and probe
  RTP (PCMU, 20 ms, 172-byte packets, 50 packets/s each way per call) sent with sendmmsg from 4 sockets per
  side, each call's stream in its own 1 ms slot. SIPp was not used: at these rates the Go generator needs
  less CPU on the shared cores, and play_pcap_audio cannot stamp packets. The generator collects garbage
  only when its heap reaches its memory limit (a quarter of the machine's memory, 1-4 GiB; GOGC or GOMEMLIMIT
  override): on 2 cores a mark phase under load held one of its two Ps for up to 580 ms and its pacers fell
  behind.
- Each probe carries its wall-clock send time; the receive time is the kernel's SO_TIMESTAMPNS stamp, so
  delay is send → Hotline → receiving socket, without the generator's own read scheduling. Jitter added is
  the per-stream |IPDV| (RFC 3393). Loss counts packets stamped inside the measurement window.
- Figure 1 ramps (doubling) then bisects; a step passes with < 0.1% of the calls refused at once (503:
  overload control or sip.max_calls) and < 0.1% of the admitted calls failed (refused calls are counted
  apart, as in SIPp's S3), the generator on schedule, and a recording uploaded for every call an agent
  answered. Figure 1o offers twice the figure-1 rate for one step: the share refused, the admitted calls'
  failures and INVITE → 200 p99, and how fast the refused calls got their 503. Calls last the hold time shown
  below, with audio both ways, recorded (pcm16) and uploaded (file backend, or MinIO for 1b).
- Figure 2 adds long calls step by step (never far beyond what the last step's CPU predicts) and measures
  Hotline's CPU (utime+stime of /proc/<pid>/stat), the system-wide Udp RcvbufErrors delta of
  /proc/net/snmp (which also counts drops in the generator's and other programs' sockets) and packet loss.
  Figures 3, 5 and 6 are taken at the highest passing step of each repetition; the bare relay then runs
  with the same number of call pairs. Hotline's CPU per packet includes recording and everything else
  Hotline does; both relays pay the kernel's loopback delivery of the packets they send.
- RSS is VmRSS of /proc/<pid>/status minus the idle value after registration, at the highest passing
  step (per call) or at the end of launching a figure-4 80% step (per call-per-second).
- The machine's other users (other engineers' test runs) were not stopped: figures are noisy.

`
