package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// soakResults is everything the soak test saw, for the checks and the report.
type soakResults struct {
	Cfg                        soakConfig
	Machine                    machineInfo
	Started, Finished          time.Time
	LoadStart, LoadEnd         time.Time
	HotlinePID                 int
	HotlineAlive               bool // still running when the load and the checks were over
	IdleRSS                    int64
	Baseline, End              snapshot
	Timeline                   []snapshot
	Shortages                  int
	Skipped                    int // launches skipped (MaxInFlight calls in progress)
	MaxLaunchLag               time.Duration
	StrayAgentLegs             int
	AgentRingOuts, AgentErrors int64
	AgentNotCancelled          int64
	AgentNoAck                 int64
	StrayLegs, Uncancelled     []agentLegRef // which agent calls
	NoAckLegs                  []agentLegRef
	UploadFailures             uint64
	UploadLastError            string
	SpoolLeft                  int // files left in the spool directory at the end
	RecordsRead                int
	RecDropped                 uint64
	Ledger                     []ledgerEntry
	Log                        logSummary
	LogKept                    string // where Hotline's log was copied when a check failed
	Checks                     []checkResult
	RunErr                     string
	Notes                      []string
}

// checkResult is one pass/fail check of the report.
type checkResult struct {
	Name            string
	Baseline, End   string
	Limit           string
	Pass            bool
	Details         []string // mismatches, with call-ids
	DetailsOmitted  int
	DetailsHeadline string
}

// maxDetails is how many mismatches a check lists.
const maxDetails = 25

func (c *checkResult) detail(format string, args ...any) {
	if len(c.Details) >= maxDetails {
		c.DetailsOmitted++
		return
	}
	c.Details = append(c.Details, fmt.Sprintf(format, args...))
}

// Tolerances of the baseline checks.
const (
	goroutineTolAbs = 10
	goroutineTolRel = 0.05
	fdTol           = 5
	rssTolRel       = 0.25
	rssTolAbs       = 32 << 20
	heapTolRel      = 0.25
	heapTolAbs      = 8 << 20
	maxFailedCalls  = 0.001
)

func goroutineTol(base int) int {
	return max(goroutineTolAbs, int(math.Ceil(float64(base)*goroutineTolRel)))
}

func rssTol(base int64) int64 {
	return max(int64(rssTolAbs), int64(float64(base)*rssTolRel))
}

func heapTol(base int64) int64 {
	return max(int64(heapTolAbs), int64(float64(base)*heapTolRel))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// kindStats sums the ledger for one kind of call.
type kindStats struct {
	Placed, AsPlanned, Failed      int
	Bridged, Queued                int
	Cancelled, ByeQueued           int
	Offers, Reinvites, ReinvitesOK int
	HungUpByHotline, HungUpByAgent int
	Errors                         map[string]int
	WarmupPlaced                   int
}

func (r *soakResults) kinds() [numKinds]kindStats {
	var ks [numKinds]kindStats
	for i := range ks {
		ks[i].Errors = map[string]int{}
	}
	for _, e := range r.Ledger {
		if e.Kind < 0 || e.Kind >= numKinds {
			continue
		}
		k := &ks[e.Kind]
		k.Placed++
		if e.Warmup {
			k.WarmupPlaced++
		}
		if e.Err == "" {
			k.AsPlanned++
		} else {
			k.Failed++
			k.Errors[e.Err]++
		}
		if e.Bridged {
			k.Bridged++
		}
		if e.Queued {
			k.Queued++
		}
		if e.Cancelled {
			k.Cancelled++
		}
		if e.ByeQueued {
			k.ByeQueued++
		}
		k.Offers += e.Offers
		k.Reinvites += e.Reinvites
		k.ReinvitesOK += e.ReinvOK
		switch e.HungUpBy {
		case "hotline":
			k.HungUpByHotline++
		case "agent":
			k.HungUpByAgent++
		}
	}
	return ks
}

// describe is how a mismatch names a call.
func (e *ledgerEntry) describe() string {
	s := fmt.Sprintf("%s (call %d, %s", e.CallID, e.N, shortKind(e.Kind))
	if e.Warmup {
		s += ", warm-up"
	}
	if e.Final != 0 {
		s += fmt.Sprintf(", final %d", e.Final)
	}
	if e.Bridged {
		s += ", bridged"
	}
	if e.Queued {
		s += ", queued"
	}
	if e.Cancelled {
		s += ", CANCELled"
	}
	if e.Err != "" {
		s += ", " + e.Err
	}
	return s + ")"
}

var shortKinds = [numKinds]string{"talk", "hold by caller", "hold by agent", "no-answer", "abandon", "agent hangs up"}

func shortKind(k callKind) string {
	if k >= 0 && k < numKinds {
		return shortKinds[k]
	}
	return k.String()
}

// evaluate computes the checks from the results and the recording store.
func (r *soakResults) evaluate(store *recStore) []checkResult {
	var out []checkResult
	b, e := r.Baseline, r.End

	up := checkResult{Name: "Hotline stayed up (no exit, no panic)", Baseline: fmt.Sprintf("pid %d", r.HotlinePID),
		End: "running", Limit: "running, 0 panics", Pass: r.HotlineAlive && len(r.Log.Panics) == 0}
	if !r.HotlineAlive {
		up.End = "EXITED"
	}
	for _, p := range r.Log.Panics {
		up.detail("%s", p)
	}
	out = append(out, up)

	sent, failed := 0, 0
	byErr := map[string][]*ledgerEntry{}
	for i := range r.Ledger {
		l := &r.Ledger[i]
		sent++
		if l.Err != "" {
			failed++
			byErr[l.Err] = append(byErr[l.Err], l)
		}
	}
	calls := checkResult{Name: "calls went as planned", End: fmt.Sprintf("%d of %d differed", failed, sent),
		Limit: fmt.Sprintf("< %.1f%%", 100*maxFailedCalls), Pass: sent > 0 && float64(failed) < maxFailedCalls*float64(sent)}
	for _, k := range sortedKeys(byErr) {
		ls := byErr[k]
		ids := make([]string, 0, 3)
		for _, l := range ls[:min(3, len(ls))] {
			ids = append(ids, l.CallID)
		}
		calls.detail("%dx %s: %s", len(ls), k, strings.Join(ids, ", "))
	}
	out = append(out, calls)

	if b.At.IsZero() || e.At.IsZero() {
		out = append(out, checkResult{Name: "baseline and end figures taken", Limit: "both", End: "missing"})
	} else {
		gt := goroutineTol(b.Goroutines)
		out = append(out, checkResult{Name: "goroutines back to baseline (go_goroutines)",
			Baseline: fmt.Sprint(b.Goroutines), End: fmt.Sprint(e.Goroutines), Limit: fmt.Sprintf("≤ baseline + %d", gt),
			Pass: b.Goroutines > 0 && e.Goroutines <= b.Goroutines+gt})
		out = append(out, checkResult{Name: "open file descriptors back to baseline (/proc/<pid>/fd)",
			Baseline: fmt.Sprint(b.FDs), End: fmt.Sprint(e.FDs), Limit: fmt.Sprintf("≤ baseline + %d", fdTol),
			Pass: b.FDs > 0 && e.FDs <= b.FDs+fdTol})
		out = append(out, checkResult{Name: "no call left in progress (API /api/v1/calls, hotline_calls_active)",
			Baseline: fmt.Sprintf("%d / %d", b.Calls, b.CallsMetric), End: fmt.Sprintf("%d / %d", e.Calls, e.CallsMetric),
			Limit: "0 / 0", Pass: e.Calls == 0 && e.CallsMetric == 0})
		out = append(out, checkResult{Name: "no RTP port left open (UDP sockets in the RTP range, hotline_rtp_legs)",
			Baseline: fmt.Sprintf("%d / %d", b.RTPSockets, b.RTPLegs), End: fmt.Sprintf("%d / %d", e.RTPSockets, e.RTPLegs),
			Limit: "0 / 0", Pass: e.RTPSockets == 0 && e.RTPLegs == 0})
		ht := heapTol(b.HeapInuse)
		out = append(out, checkResult{Name: "live heap back near baseline (go_memstats_heap_inuse_bytes after a GC)",
			Baseline: mib(b.HeapInuse), End: mib(e.HeapInuse), Limit: "≤ baseline + " + mib(ht),
			Pass: b.HeapInuse > 0 && e.HeapInuse <= b.HeapInuse+ht})
		rt := rssTol(b.RSS)
		out = append(out, checkResult{Name: "memory back near baseline (VmRSS)", Baseline: mib(b.RSS), End: mib(e.RSS),
			Limit: "≤ baseline + " + mib(rt), Pass: b.RSS > 0 && e.RSS <= b.RSS+rt})
		if b.Err != "" || e.Err != "" {
			r.Notes = append(r.Notes, fmt.Sprintf("probe errors: baseline %q, end %q", b.Err, e.Err))
		}
	}

	out = append(out, r.checkCDRs()...)
	out = append(out, r.checkRecordings(store))

	ag := checkResult{Name: "agents all available again, no agent leg left up, every unanswered offer cancelled, every answer ACKed",
		Baseline: fmt.Sprintf("%d available", b.AgentsAvailable),
		End: fmt.Sprintf("%d available, %d legs left up, %d offers never cancelled, %d answers never ACKed", e.AgentsAvailable,
			r.StrayAgentLegs, r.AgentNotCancelled, r.AgentNoAck),
		Limit: fmt.Sprintf("%d, 0, 0, 0", r.Cfg.Agents),
		Pass:  e.AgentsAvailable == r.Cfg.Agents && r.StrayAgentLegs == 0 && r.AgentNotCancelled == 0 && r.AgentNoAck == 0}
	byToken := map[string]*ledgerEntry{}
	for i := range r.Ledger {
		byToken["b"+strconv.FormatUint(r.Ledger[i].N, 10)] = &r.Ledger[i]
	}
	leg := func(what string, ref agentLegRef) {
		call := "call " + ref.Token + " (not in the ledger)"
		if l := byToken[ref.Token]; l != nil {
			call = l.describe()
		}
		ag.detail("%s: agent Call-ID %s, caller's call %s", what, ref.CallID, call)
	}
	for _, ref := range r.Uncancelled {
		leg("offer never cancelled (the agent's phone rang on after Hotline gave up)", ref)
	}
	for _, ref := range r.StrayLegs {
		leg("agent leg never hung up by Hotline", ref)
	}
	for _, ref := range r.NoAckLegs {
		leg("agent's 200 OK never ACKed by Hotline (the agent answered into silence)", ref)
	}
	out = append(out, ag)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkCDRs: every call placed has exactly one call record (Hotline's
// "call ended" line), with the outcome the caller caused.
func (r *soakResults) checkCDRs() []checkResult {
	known := map[string]bool{}
	one := checkResult{Name: "every call placed has exactly one call record (CDR)", Limit: "0 missing, 0 duplicated, 0 unknown"}
	outc := checkResult{Name: "call records show what the callers did (answered / abandoned)", Limit: "0 mismatches"}
	missing, dup, wrong, checked := 0, 0, 0, 0
	for i := range r.Ledger {
		l := &r.Ledger[i]
		if !l.Sent {
			continue
		}
		known[l.CallID] = true
		cs := r.Log.CDRs[l.CallID]
		switch {
		case len(cs) == 0:
			missing++
			one.detail("no CDR: %s", l.describe())
			continue
		case len(cs) > 1:
			dup++
			one.detail("%d CDRs: %s", len(cs), l.describe())
		}
		want := ""
		switch {
		case l.Bridged:
			want = "answered"
		case l.Kind == kindAbandon && l.Err == "" && (l.Cancelled || l.ByeQueued):
			want = "abandoned"
		}
		if want == "" {
			continue
		}
		checked++
		if got := cs[0].Outcome; got != want {
			wrong++
			outc.detail("outcome %q (cause %q), want %q: %s", got, cs[0].Cause, want, l.describe())
		}
	}
	unknown := 0
	for _, id := range sortedKeys(r.Log.CDRs) {
		if !known[id] {
			unknown++
			one.detail("CDR of a call the driver did not place: %s", id)
		}
	}
	one.End = fmt.Sprintf("%d CDRs for %d calls; %d missing, %d duplicated, %d unknown", len(r.Log.CDRs), len(known), missing, dup, unknown)
	one.Pass = len(known) > 0 && missing == 0 && dup == 0 && unknown == 0
	outc.End = fmt.Sprintf("%d of %d checked differ", wrong, checked)
	outc.Pass = checked > 0 && wrong == 0
	return []checkResult{one, outc}
}

// checkRecordings: every bridged call has one complete recording in the
// store and no other call has one; nothing left to upload.
func (r *soakResults) checkRecordings(store *recStore) checkResult {
	c := checkResult{Name: "every bridged call has its recording (WAV + call record) in the store, and only those",
		Limit: "0 missing, 0 unexpected, 0 problems, spool empty, 0 upload failures"}
	store.mu.Lock()
	defer store.mu.Unlock()
	bridged := map[string]bool{}
	missing, unexpected, dup := 0, 0, 0
	for i := range r.Ledger {
		l := &r.Ledger[i]
		if !l.Sent {
			continue
		}
		ri := store.seen[l.CallID]
		if l.Bridged {
			bridged[l.CallID] = true
			switch {
			case ri == nil:
				missing++
				c.detail("no recording: %s", l.describe())
			case ri.Count > 1:
				dup++
				c.detail("%d recordings: %s", ri.Count, l.describe())
			}
		} else if ri != nil {
			unexpected++
			c.detail("recording of a call never bridged: %s", l.describe())
		}
	}
	for _, id := range sortedKeys(store.seen) {
		if !bridged[id] {
			found := false
			for i := range r.Ledger {
				if r.Ledger[i].CallID == id {
					found = true
					break
				}
			}
			if !found {
				unexpected++
				c.detail("recording of a call the driver did not place: %s", id)
			}
		}
	}
	for _, p := range store.problems {
		c.detail("%s", p)
	}
	if r.SpoolLeft > 0 {
		c.detail("%d files left in the spool directory", r.SpoolLeft)
	}
	if r.UploadFailures > 0 {
		c.detail("%d upload failures (last error %q)", r.UploadFailures, r.UploadLastError)
	}
	c.End = fmt.Sprintf("%d recordings for %d bridged calls; %d missing, %d duplicated, %d unexpected, %d problems",
		store.records, len(bridged), missing, dup, unexpected, len(store.problems))
	c.Pass = len(bridged) > 0 && missing == 0 && dup == 0 && unexpected == 0 && len(store.problems) == 0 &&
		r.SpoolLeft == 0 && r.UploadFailures == 0
	return c
}

func (r *soakResults) passed() bool {
	if r.RunErr != "" || len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.Pass {
			return false
		}
	}
	return true
}

func passText(ok bool) string {
	if ok {
		return "pass"
	}
	return "**FAIL**"
}

// writeSoakReport writes the report in Markdown.
func (r *soakResults) writeSoakReport(w io.Writer) {
	m := r.Machine
	mode := "default"
	if r.Cfg.Quick {
		mode = "quick (SOAK_QUICK=1)"
	}
	fmt.Fprintf(w, "# Hotline soak test — %s, %s\n\n", r.Started.Format("2006-01-02"), m.Host)
	fmt.Fprintf(w, "Generated by `make soak` (`hotline-load soak`), mode %s, load for %s after a %s warm-up, seed **%d**, took %s.\n\n",
		mode, r.Cfg.Duration, r.Cfg.Warmup, r.Cfg.Seed, r.Finished.Sub(r.Started).Round(time.Second))
	npass := 0
	for _, c := range r.Checks {
		if c.Pass {
			npass++
		}
	}
	verdict := "PASS"
	if !r.passed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "**Result: %s** — %d of %d checks passed.", verdict, npass, len(r.Checks))
	if r.RunErr != "" {
		fmt.Fprintf(w, " The run ended early: %s", r.RunErr)
	}
	fmt.Fprintf(w, " Re-run the same calls with `hotline-load soak -seed %d`.\n\n", r.Cfg.Seed)

	fmt.Fprintln(w, "## Machine")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- CPU: %s, %d logical cores; memory %.1f GiB; kernel %s\n", m.CPU, m.Cores, float64(m.MemBytes)/(1<<30), m.Kernel)
	fmt.Fprintf(w, "- Go: %s; commit %s\n", m.GoVersion, m.Commit)
	fmt.Fprintln(w, "- Hotline, callers and agents ran on this machine, on 127.0.0.1, next to other users' test runs.")
	fmt.Fprintln(w)

	r.writeLoad(w)
	fmt.Fprintln(w, "## Checks")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| check | baseline | end | limit | result |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, c := range r.Checks {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", c.Name, dash(c.Baseline), dash(c.End), c.Limit, passText(c.Pass))
	}
	fmt.Fprintln(w)
	for _, c := range r.Checks {
		if len(c.Details) == 0 {
			continue
		}
		fmt.Fprintf(w, "### %s — %s\n\n", c.Name, strings.TrimPrefix(passText(c.Pass), "**"))
		for _, d := range c.Details {
			fmt.Fprintf(w, "- %s\n", d)
		}
		if c.DetailsOmitted > 0 {
			fmt.Fprintf(w, "- … and %d more\n", c.DetailsOmitted)
		}
		fmt.Fprintln(w)
	}
	r.writeFigures(w)
	r.writeTimeline(w)
	r.writeLog(w)
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "## Notes from the run")
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, soakMethodText)
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (r *soakResults) writeLoad(w io.Writer) {
	c := r.Cfg
	fmt.Fprintln(w, "## Load")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- %.0f calls/s (Poisson arrivals), talk %s-%s (10%% of calls 0.2-1 s), %d agents registered (digest auth), "+
		"ring timeout %s, Hotline's RTP ports %d-%d, recording every bridged call (pcm16, file backend).\n",
		c.Rate, c.TalkMin, c.TalkMax, c.Agents, c.RingTimeout, c.RTPMin, c.RTPMax)
	if c.ShortageEvery > 0 {
		fmt.Fprintf(w, "- Agent shortages: every %s of the load, all agents but %d paused through the API for %s "+
			"(callers queue with hold music; some hang up while queued). %d happened.\n", c.ShortageEvery, c.ShortageKeep, c.ShortageFor, r.Shortages)
	}
	var peak, peakHot int
	var sumIn, sumCores float64
	n := 0
	for _, s := range r.Timeline {
		if s.Warmup {
			continue
		}
		peak = max(peak, s.InFlight)
		peakHot = max(peakHot, s.Calls)
		sumIn += float64(s.InFlight)
		sumCores += s.Cores
		n++
	}
	if n > 0 {
		fmt.Fprintf(w, "- Calls in progress during the load: mean %.0f, peak %d (driver); peak %d in Hotline's API. Hotline CPU: mean %.2f cores.\n",
			sumIn/float64(n), peak, peakHot, sumCores/float64(n))
	}
	if r.Skipped > 0 || r.MaxLaunchLag > 100*time.Millisecond {
		fmt.Fprintf(w, "- Generator: %d launches skipped (%d calls in progress), launches up to %s late.\n",
			r.Skipped, c.MaxInFlight, r.MaxLaunchLag.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "- Agents let %d offers ring out (Hotline is to CANCEL them at the ring timeout or when the caller leaves); "+
		"agent-side errors: %d (of which %d answers never ACKed).\n", r.AgentRingOuts, r.AgentErrors, r.AgentNoAck)
	fmt.Fprintln(w)
	ks := r.kinds()
	fmt.Fprintln(w, "### Calls by kind (warm-up included)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| kind | share | placed | as planned | failed | bridged to an agent | queued first (hold music) | CANCELled | hung up while queued | agent offers | re-INVITEs ok/sent | hung up by Hotline | top failures |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
	var tot kindStats
	for k := range numKinds {
		s := ks[k]
		fmt.Fprintf(w, "| %s | %d%% | %d | %d | %d | %d | %d | %d | %d | %d | %d/%d | %d | %s |\n", callKind(k), kindWeights[k],
			s.Placed, s.AsPlanned, s.Failed, s.Bridged, s.Queued, s.Cancelled, s.ByeQueued, s.Offers, s.ReinvitesOK, s.Reinvites,
			s.HungUpByHotline, dash(topErrors(s.Errors, 2)))
		tot.Placed += s.Placed
		tot.AsPlanned += s.AsPlanned
		tot.Failed += s.Failed
		tot.Bridged += s.Bridged
		tot.Queued += s.Queued
		tot.Cancelled += s.Cancelled
		tot.ByeQueued += s.ByeQueued
		tot.Offers += s.Offers
		tot.Reinvites += s.Reinvites
		tot.ReinvitesOK += s.ReinvitesOK
		tot.HungUpByHotline += s.HungUpByHotline
		tot.WarmupPlaced += s.WarmupPlaced
	}
	fmt.Fprintf(w, "| **all** | 100%% | %d | %d | %d | %d | %d | %d | %d | %d | %d/%d | %d | |\n", tot.Placed, tot.AsPlanned, tot.Failed,
		tot.Bridged, tot.Queued, tot.Cancelled, tot.ByeQueued, tot.Offers, tot.ReinvitesOK, tot.Reinvites, tot.HungUpByHotline)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%d of the calls were placed during the warm-up. \"As planned\" means the call did what its kind says "+
		"(e.g. an abandoning caller's CANCEL or BYE went through); \"failed\" lists what differed.\n\n", tot.WarmupPlaced)
}

func (r *soakResults) writeFigures(w io.Writer) {
	b, e := r.Baseline, r.End
	fmt.Fprintln(w, "## Baseline (after the warm-up, idle) and end (after the load, idle)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| figure | source | baseline | end | change |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|")
	row := func(name, src string, bv, ev int64, f func(int64) string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", name, src, f(bv), f(ev), f(ev-bv))
	}
	num := func(v int64) string { return fmt.Sprint(v) }
	row("goroutines", "go_goroutines", int64(b.Goroutines), int64(e.Goroutines), num)
	row("open file descriptors", "/proc/<pid>/fd", int64(b.FDs), int64(e.FDs), num)
	row("UDP sockets in the RTP range", "/proc/<pid>/net/udp", int64(b.RTPSockets), int64(e.RTPSockets), num)
	row("RTP legs", "hotline_rtp_legs", int64(b.RTPLegs), int64(e.RTPLegs), num)
	row("calls in progress", "API /api/v1/calls", int64(b.Calls), int64(e.Calls), num)
	row("calls in progress", "hotline_calls_active", int64(b.CallsMetric), int64(e.CallsMetric), num)
	row("resident memory", "VmRSS", b.RSS, e.RSS, mib)
	row("heap in use", "go_memstats_heap_inuse_bytes", b.HeapInuse, e.HeapInuse, mib)
	row("agents available", "API /api/v1/agents", int64(b.AgentsAvailable), int64(e.AgentsAvailable), num)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "RSS right after the agents registered (before the warm-up): %s. Each figure is the median of 5 samples, "+
		"1 s apart, taken at least %s after Hotline had no call, no recording and nothing to upload, and after a garbage collection.\n\n",
		mib(r.IdleRSS), r.Cfg.Settle)
}

func (r *soakResults) writeTimeline(w io.Writer) {
	if len(r.Timeline) == 0 {
		return
	}
	fmt.Fprintln(w, "## Timeline")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| t | phase | calls (driver / Hotline) | waiting in queue | recording | goroutines | fds | RTP sockets | RSS MiB | heap MiB | Hotline cores |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	// About 30 rows whatever the length.
	step := max(1, (len(r.Timeline)+29)/30)
	t0 := r.Timeline[0].At
	for i, s := range r.Timeline {
		if i%step != 0 && i != len(r.Timeline)-1 {
			continue
		}
		phase := "load"
		if s.Warmup {
			phase = "warm-up"
		}
		fmt.Fprintf(w, "| %s | %s | %d / %d | %d | %d | %d | %d | %d | %.0f | %.0f | %.2f |\n", s.At.Sub(t0).Round(time.Second), phase,
			s.InFlight, s.Calls, s.Waiting, s.Recording, s.Goroutines, s.FDs, s.RTPSockets,
			float64(s.RSS)/(1<<20), float64(s.HeapInuse)/(1<<20), s.Cores)
	}
	fmt.Fprintln(w)
}

func (r *soakResults) writeLog(w io.Writer) {
	ls := r.Log
	fmt.Fprintln(w, "## Hotline's log")
	fmt.Fprintln(w)
	var lv []string
	for _, k := range sortedKeys(ls.Levels) {
		lv = append(lv, fmt.Sprintf("%s %d", k, ls.Levels[k]))
	}
	fmt.Fprintf(w, "%d lines (%s; %d not JSON). Recordings read from the store: %d call records, %d packets dropped by recorders.",
		ls.Lines, strings.Join(lv, ", "), ls.Other, r.RecordsRead, r.RecDropped)
	if r.LogKept != "" {
		fmt.Fprintf(w, " The log was kept in `%s`.", r.LogKept)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	if len(ls.Messages) > 0 {
		fmt.Fprintln(w, "| warnings and errors | count |")
		fmt.Fprintln(w, "|---|---:|")
		keys := sortedKeys(ls.Messages)
		sort.SliceStable(keys, func(i, j int) bool { return ls.Messages[keys[i]] > ls.Messages[keys[j]] })
		for _, k := range keys[:min(len(keys), 15)] {
			fmt.Fprintf(w, "| %s | %d |\n", strings.ReplaceAll(k, "|", "\\|"), ls.Messages[k])
		}
		fmt.Fprintln(w)
	}
}

const soakMethodText = `## How the soak test works

- ` + "`hotline-load soak`" + ` builds (or takes) Hotline, starts it on a generated configuration (loopback, log level info as
  JSON, recording every bridged call, file backend, auto-pause off, metrics on a free port) and registers the agents.
  Callers and agents are the benchmark's sipgo user agents with probe RTP both ways (PCMU, 50 packets/s).
- Each call's kind and timings are drawn from a generator seeded with the seed above; the agents read the plan of
  the call they are offered (Hotline copies the caller's From user into the agent's INVITE), so an agent rings
  without answering (180, then nothing until Hotline's CANCEL) exactly when the plan says.
- Warm-up load, then the baseline: Hotline idle (no call, no recording, empty upload backlog), left alone for the
  settle time, then sampled. Then the load, the same drain and settle, and the end figures.
- Goroutines come from Hotline's metrics endpoint (client_golang's Go collector), descriptors and RSS from /proc,
  RTP sockets from the UDP sockets of the process in its RTP range, calls from the API.
- Call records: every call whose INVITE went out must have exactly one "call ended" line (the CDR, with call_id
  and outcome) in Hotline's log. Recordings: the driver's ledger of bridged calls is compared, call-id by call-id,
  with the call records (JSON) stored beside the WAVs; checked recordings are deleted during the run to keep the
  disk bounded.
- Every process started is stopped by PID at the end, on error and on Ctrl-C; the run is bounded by
  the load time plus 15 minutes.
`
