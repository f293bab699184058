package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

// xferConfig is the transfer and monitoring part (issue 11): the CPU one
// monitored call costs (mixing the supervisor's audio) and the CPU and
// latency of a blind transfer through the API, under a steady load of
// bridged, recorded calls driven by the Go generator.
type xferConfig struct {
	// Calls is the steady load: calls bridged to an agent, audio both
	// ways, recorded, held for the whole part.
	Calls int
	// Window is each CPU measurement's length; Windows how many are taken
	// in a row for each state (the median counts: a shared machine's
	// bursts hit one window, not all).
	Window  time.Duration
	Windows int
	// TransferRate is how many API transfers per second are launched
	// (one per call, to a free agent).
	TransferRate float64
	Budget       time.Duration
}

func defaultXferConfig(quick bool) xferConfig {
	if quick {
		return xferConfig{Calls: 40, Window: 3 * time.Second, Windows: 3, TransferRate: 10, Budget: 2 * time.Minute}
	}
	return xferConfig{Calls: 100, Window: 5 * time.Second, Windows: 5, TransferRate: 20, Budget: 4 * time.Minute}
}

// xferResults is what the transfer and monitoring part measured.
type xferResults struct {
	Cfg xferConfig
	// Bridged is the calls of the steady load that reached an agent.
	Bridged int
	// BaseCores is Hotline's CPU (cores) with the steady load alone,
	// before the transfers (Base2Cores: after them, before monitoring).
	BaseCores, Base2Cores float64
	// ListenCores: Hotline's CPU with ListenN of the calls monitored in
	// listen; BargeCores with BargeN more monitored in barge.
	ListenCores, BargeCores float64
	ListenN, BargeN         int
	// MonitorSetup is each monitoring request's POST → 200 (the
	// supervisor's phone answered and was joined); MonitorErrs the
	// refusals by reason.
	MonitorSetup []time.Duration
	MonitorErrs  map[string]int
	// Transfers counts the transfers asked; TransferLatency, for each one
	// completed, POST → the target agent's 200 OK acknowledged.
	Transfers       int
	TransferLatency []time.Duration
	TransferErrs    map[string]int
	// TransferCPU is Hotline's CPU over the transfers' window less the
	// steady load's (BaseCores over the same time); TransferWindow that
	// window (first POST to the last completion, plus a second).
	TransferCPU    time.Duration
	TransferWindow time.Duration
	// GenCores and MachineBusy: the generator's CPU and the whole
	// machine's busy share over the part (a shared machine shows).
	GenCores, MachineBusy float64
	LoadBefore, LoadAfter string
	Err                   string
}

// perMonitored is the extra CPU of one monitored call, in ms of CPU per
// second (millicores): (with − without) / n.
func perMonitored(with, without float64, n int) float64 {
	if n == 0 || math.IsNaN(with) || math.IsNaN(without) {
		return math.NaN()
	}
	return (with - without) / float64(n) * 1000
}

// perTransfer is the extra CPU of one completed transfer, in ms.
func (r *xferResults) perTransfer() float64 {
	if len(r.TransferLatency) == 0 {
		return math.NaN()
	}
	return ms(r.TransferCPU) / float64(len(r.TransferLatency))
}

// cores measures Hotline's CPU (in cores) over n windows in a row and
// returns the median.
func cores(ctx context.Context, h *hotlineProc, window time.Duration, n int) float64 {
	var xs []float64
	for range max(n, 1) {
		c0, _ := h.usage()
		t0 := time.Now()
		select {
		case <-time.After(window):
		case <-ctx.Done():
			return math.NaN()
		}
		c1, _ := h.usage()
		xs = append(xs, (c1-c0).Seconds()/time.Since(t0).Seconds())
	}
	return Summarize(xs).Median
}

// supervisorName is the username of supervisor i (password agentPassword).
func supervisorName(i int) string { return fmt.Sprintf("s%05d", i) }

// postJSON sends one API request with a JSON body; it returns the status
// and the error code of a refusal.
func (h *hotlineProc) postJSON(ctx context.Context, path string, body any) (int, string, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.api+path, bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.httpClient().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var e struct {
		Code string `json:"code"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Code, nil
}

// liveCall is a call in progress as GET /api/v1/calls lists it.
type liveCall struct {
	CallID   string `json:"call_id"`
	From     string `json:"from"`
	Agent    string `json:"agent"`
	Answered bool   `json:"answered"`
}

// agentLegs is each caller token's agent legs (Call-IDs) the generator
// has up now.
func (g *loadGen) agentLegs() map[string][]string {
	out := map[string][]string{}
	g.agentStreams.Range(func(k, v any) bool {
		tok := v.(agentStream).tok
		out[tok] = append(out[tok], k.(string))
		return true
	})
	return out
}

// xferFigures measures the transfer and monitoring part.
func (d *driver) xferFigures(ctx context.Context) error {
	xc := d.cfg.Xfer
	res := &xferResults{Cfg: xc, BaseCores: math.NaN(), Base2Cores: math.NaN(), ListenCores: math.NaN(), BargeCores: math.NaN(),
		MonitorErrs: map[string]int{}, TransferErrs: map[string]int{}, LoadBefore: loadAvg()}
	d.res.Xfer = res
	defer func() { res.LoadAfter = loadAvg() }()
	ctx, cancel := context.WithTimeout(ctx, xc.Budget)
	defer cancel()
	err := d.xferRun(ctx, res)
	if err != nil {
		res.Err = err.Error()
	}
	return err
}

func (d *driver) xferRun(ctx context.Context, res *xferResults) error {
	xc := res.Cfg
	n := xc.Calls
	agents := 2*n + 16 // the calls' agents, the transfers' targets, spare
	media, err := newMediaEngine(4, 8*agents+1024)
	if err != nil {
		return err
	}
	mctx, stopMedia := context.WithCancel(ctx)
	var mwg sync.WaitGroup
	mwg.Add(1)
	go func() { defer mwg.Done(); media.run(mctx) }()
	defer func() { stopMedia(); mwg.Wait() }()
	sub := *d
	sub.media = media
	h, g, err := sub.startHotline(ctx, "xfer", hotlineOpts{Agents: agents, Supervisors: n})
	if err != nil {
		return err
	}
	defer h.stop(15 * time.Second)
	defer g.close()

	gen0, _ := ProcCPU(os.Getpid())
	busy0, tot0, _ := MachineCPU()
	began := time.Now()
	defer func() {
		gen1, _ := ProcCPU(os.Getpid())
		busy1, tot1, _ := MachineCPU()
		if el := time.Since(began); el > 0 && tot1 > tot0 {
			res.GenCores = (gen1 - gen0).Seconds() / el.Seconds()
			res.MachineBusy = float64(busy1-busy0) / float64(tot1-tot0)
		}
	}()

	// The steady load: n calls, bridged to agents, held until the end.
	d.log.Info("transfer part: steady load", "calls", n)
	stop := make(chan struct{})
	var cwg sync.WaitGroup
	var cmu sync.Mutex
	callErrs := map[string]int{}
	stopCalls := sync.OnceFunc(func() { close(stop); cwg.Wait() })
	defer stopCalls()
	for i := range n {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			r := g.call(ctx, holdSpec{For: xc.Budget, Until: stop})
			if r.Err != "" {
				cmu.Lock()
				callErrs[r.Err]++
				cmu.Unlock()
			}
		}()
		if i%10 == 9 {
			time.Sleep(100 * time.Millisecond) // 100 calls/s
		}
	}
	var live []liveCall
	for deadline := time.Now().Add(30 * time.Second); ; {
		live = live[:0]
		var all []liveCall
		if err := h.getJSON(ctx, "/api/v1/calls", &all); err == nil {
			for _, c := range all {
				if c.Agent != "" && c.Answered {
					live = append(live, c)
				}
			}
		}
		if len(live) == n && int(g.agentUp.Load()) >= n {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d of %d calls bridged to an agent after 30 s (%s)", len(live), n, topErrors(callErrs, 3))
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.Bridged = len(live)
	time.Sleep(time.Second) // let the bridges settle (recordings started)
	res.BaseCores = cores(ctx, h, xc.Window, xc.Windows)

	// Transfers: each call once, to a free agent, at TransferRate.
	d.log.Info("transfer part: blind transfers through the API", "transfers", n, "rate", xc.TransferRate)
	busy := map[string]bool{}
	for _, c := range live {
		busy[c.Agent] = true
	}
	var targets []string
	for i := 0; i < agents && len(targets) < n; i++ {
		if a := agentName(i); !busy[a] {
			targets = append(targets, a)
		}
	}
	legs0 := g.agentLegs()
	type done struct {
		lat  time.Duration
		err  string
		when time.Time
	}
	results := make(chan done, n)
	c0, _ := h.usage()
	t0 := time.Now()
	gap := time.Duration(float64(time.Second) / xc.TransferRate)
	for i, c := range live {
		if i > 0 {
			time.Sleep(gap)
		}
		res.Transfers++
		old := map[string]bool{}
		for _, id := range legs0[c.From] {
			old[id] = true
		}
		go func(c liveCall, target string) {
			start := time.Now()
			code, ecode, err := h.postJSON(ctx, "/api/v1/calls/"+c.CallID+"/transfer", map[string]string{"to": "agent:" + target})
			switch {
			case err != nil:
				results <- done{err: "POST: " + shortErr(err)}
				return
			case code != http.StatusOK:
				results <- done{err: fmt.Sprintf("POST answered %d %s", code, ecode)}
				return
			}
			// Completed when the target's leg of this caller is up.
			for tick := time.NewTicker(2 * time.Millisecond); ; {
				select {
				case <-ctx.Done():
					tick.Stop()
					results <- done{err: "not completed within the part's budget"}
					return
				case <-tick.C:
				}
				for _, id := range g.agentLegs()[c.From] {
					if !old[id] {
						tick.Stop()
						now := time.Now()
						results <- done{lat: now.Sub(start), when: now}
						return
					}
				}
				if time.Since(start) > 15*time.Second {
					tick.Stop()
					results <- done{err: "target's leg not up within 15 s"}
					return
				}
			}
		}(c, targets[i])
	}
	last := t0
	for range res.Transfers {
		r := <-results
		if r.err != "" {
			res.TransferErrs[r.err]++
			continue
		}
		res.TransferLatency = append(res.TransferLatency, r.lat)
		if r.when.After(last) {
			last = r.when
		}
	}
	// A second more: the first agents' wrap-up and the re-bridged
	// recordings' writes belong to the transfers too.
	if wait := time.Until(last.Add(time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	c1, _ := h.usage()
	res.TransferWindow = time.Since(t0)
	if !math.IsNaN(res.BaseCores) {
		res.TransferCPU = (c1 - c0) - time.Duration(res.BaseCores*float64(res.TransferWindow))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	// Monitoring: half the calls in listen, then the other half in barge.
	sups := make([]string, n)
	for i := range sups {
		sups[i] = supervisorName(i)
	}
	if failed, err := g.registerAgents(ctx, sups, agentPassword, 16); failed > 0 {
		return fmt.Errorf("%d supervisors failed to register: %w", failed, err)
	}
	var now []liveCall
	if err := h.getJSON(ctx, "/api/v1/calls", &now); err != nil {
		return fmt.Errorf("calls after the transfers: %w", err)
	}
	live = live[:0]
	for _, c := range now {
		if c.Agent != "" && c.Answered {
			live = append(live, c)
		}
	}
	time.Sleep(time.Second)
	res.Base2Cores = cores(ctx, h, xc.Window, xc.Windows)
	d.log.Info("transfer part: monitoring", "calls", len(live))
	half := len(live) / 2
	monitor := func(calls []liveCall, first int, mode string) int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		sem := make(chan struct{}, 4)
		for i, c := range calls {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				start := time.Now()
				code, ecode, err := h.postJSON(ctx, "/api/v1/calls/"+c.CallID+"/monitor",
					map[string]string{"supervisor": supervisorName(first + i), "mode": mode})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					res.MonitorErrs["POST: "+shortErr(err)]++
				case code != http.StatusOK:
					res.MonitorErrs[fmt.Sprintf("answered %d %s", code, ecode)]++
				default:
					ok++
					res.MonitorSetup = append(res.MonitorSetup, time.Since(start))
				}
			}()
		}
		wg.Wait()
		return ok
	}
	res.ListenN = monitor(live[:half], 0, "listen")
	time.Sleep(time.Second)
	res.ListenCores = cores(ctx, h, xc.Window, xc.Windows)
	res.BargeN = monitor(live[half:], half, "barge")
	time.Sleep(time.Second)
	res.BargeCores = cores(ctx, h, xc.Window, xc.Windows)

	stopCalls()
	if _, err := h.waitIdle(ctx, 30*time.Second, true); err != nil {
		d.note("transfer part: Hotline not idle after the calls: %v", err)
	}
	return ctx.Err()
}

const toolXfer = "hotline-load (Go) + POST /api/v1/calls/{id}/transfer and /monitor"

// figures are the transfer and monitoring lines of the summary table.
func (r *xferResults) figures() []figure {
	lat := func(p float64) float64 {
		if len(r.TransferLatency) == 0 {
			return math.NaN()
		}
		return ms(DurationPercentile(r.TransferLatency, p))
	}
	load := fmt.Sprintf("%d bridged recorded calls", r.Bridged)
	figs := []figure{
		{ID: "M1", Name: "Hotline CPU per monitored call, listen (supervisor hears caller + agent mixed), " + load,
			Unit: "ms CPU/s", Tool: toolXfer, S: one(perMonitored(r.ListenCores, r.Base2Cores, r.ListenN))},
		{ID: "M1", Name: "Hotline CPU per monitored call, barge (all three mixed)", Unit: "ms CPU/s", Tool: toolXfer,
			S: one(perMonitored(r.BargeCores, r.ListenCores, r.BargeN))},
		{ID: "M1", Name: "Hotline CPU per plain two-party call, same run (for comparison)", Unit: "ms CPU/s", Tool: toolXfer,
			S: one(perMonitored(r.BaseCores, 0, r.Bridged))},
	}
	if len(r.MonitorSetup) > 0 {
		figs = append(figs, figure{ID: "M2", Name: "monitoring through the API, POST → 200 (supervisor's phone rung and joined), p50",
			Unit: "ms", Tool: toolXfer, S: one(ms(DurationPercentile(r.MonitorSetup, 50)))})
	}
	figs = append(figs,
		figure{ID: "T1", Name: fmt.Sprintf("Hotline CPU per blind transfer through the API (%d at %.0f/s), %s", r.Transfers, r.Cfg.TransferRate, load),
			Unit: "ms", Tool: toolXfer, S: one(r.perTransfer())},
		figure{ID: "T2", Name: "transfer completion, POST → the target agent's 200 OK acknowledged, p50", Unit: "ms", Tool: toolXfer, S: one(lat(50))},
		figure{ID: "T2", Name: "transfer completion, p99", Unit: "ms", Tool: toolXfer, S: one(lat(99))})
	return figs
}

// writeDetails writes the transfer and monitoring part's method and run.
func (r *xferResults) writeDetails(w io.Writer) {
	c := r.Cfg
	fmt.Fprintln(w, "## Transfers and monitoring (issue 11)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- Hotline on the benchmark's configuration (recording every call, file backend) with %d agents and %d supervisors\n",
		2*c.Calls+16, c.Calls)
	fmt.Fprintf(w, "  (`role: supervisor`); the Go generator places %d calls (audio both ways, 50 packets/s each side), bridged to\n", c.Calls)
	fmt.Fprintln(w, "  agents and held for the whole part. Hotline's CPU is utime+stime from /proc over each window.")
	fmt.Fprintf(w, "- Transfers (T1, T2): each call once, `POST /api/v1/calls/{id}/transfer {\"to\":\"agent:...\"}` to a free agent, %.0f\n", c.TransferRate)
	fmt.Fprintln(w, "  launched per second. T2 is from the POST to the target agent's leg up (its 200 OK acknowledged, seen by the")
	fmt.Fprintln(w, "  generator). T1 is Hotline's CPU from the first POST to a second after the last completion, less the steady")
	fmt.Fprintln(w, "  load's CPU over the same time, per completed transfer: the API request, the first agent's BYE and wrap-up,")
	fmt.Fprintln(w, "  the caller's hold music, the target's INVITE and the new bridge (the recording goes on).")
	fmt.Fprintf(w, "- Monitoring (M1, M2): supervisors register, then half the calls are monitored in `listen` through\n")
	fmt.Fprintln(w, "  `POST /api/v1/calls/{id}/monitor` (Hotline rings the supervisor's phone, which answers and sends audio too),")
	fmt.Fprintf(w, "  Hotline's CPU measured (median of %d windows of %s); then the other half in `barge`, measured again.\n", c.Windows, c.Window)
	fmt.Fprintln(w, "  M1 listen is (CPU with the listeners − CPU before) / listeners; barge is (CPU with both − CPU with the")
	fmt.Fprintln(w, "  listeners) / barging calls: the")
	fmt.Fprintln(w, "  mixing, the supervisor's leg and its relay. `BenchmarkMonitorLoad` (sip/media) measures the mixing alone.")
	fmt.Fprintln(w, "- One repetition; on a shared machine these differences of a few percent of a core are noisy.")
	if r.LoadBefore != "" {
		fmt.Fprintf(w, "- Load average (1, 5, 15 min) at the part's start: %s; at its end: %s. Generator %.2f cores, whole machine %.0f%% busy\n",
			r.LoadBefore, r.LoadAfter, r.GenCores, 100*r.MachineBusy)
		fmt.Fprintln(w, "  over the part.")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| step | calls | Hotline CPU (cores) |")
	fmt.Fprintln(w, "|---|---:|---:|")
	fmt.Fprintf(w, "| steady load, before the transfers | %d | %.3f |\n", r.Bridged, r.BaseCores)
	fmt.Fprintf(w, "| transfers (%d asked, %d completed, over %s) | %d | %.3f |\n", r.Transfers, len(r.TransferLatency),
		r.TransferWindow.Round(10*time.Millisecond), r.Bridged, r.BaseCores+r.TransferCPU.Seconds()/max(r.TransferWindow.Seconds(), 1e-9))
	fmt.Fprintf(w, "| steady load, after the transfers | %d | %.3f |\n", r.Bridged, r.Base2Cores)
	fmt.Fprintf(w, "| %d of them monitored in listen | %d | %.3f |\n", r.ListenN, r.Bridged, r.ListenCores)
	fmt.Fprintf(w, "| and %d more in barge | %d | %.3f |\n", r.BargeN, r.Bridged, r.BargeCores)
	fmt.Fprintln(w)
	if len(r.TransferLatency) > 0 {
		fmt.Fprintf(w, "Transfer completion (ms): p50 %.1f, p90 %.1f, p99 %.1f, max %.1f.\n", ms(DurationPercentile(r.TransferLatency, 50)),
			ms(DurationPercentile(r.TransferLatency, 90)), ms(DurationPercentile(r.TransferLatency, 99)), ms(DurationPercentile(r.TransferLatency, 100)))
	}
	if len(r.MonitorSetup) > 0 {
		fmt.Fprintf(w, "Monitoring set-up (ms): p50 %.1f, p99 %.1f.\n", ms(DurationPercentile(r.MonitorSetup, 50)), ms(DurationPercentile(r.MonitorSetup, 99)))
	}
	for _, m := range []struct {
		what string
		errs map[string]int
	}{{"transfers not completed", r.TransferErrs}, {"monitoring requests refused", r.MonitorErrs}} {
		if len(m.errs) == 0 {
			continue
		}
		keys := make([]string, 0, len(m.errs))
		for k := range m.errs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "\n%s:", m.what)
		for _, k := range keys {
			fmt.Fprintf(w, " %s ×%d;", k, m.errs[k])
		}
		fmt.Fprintln(w)
	}
	if r.Err != "" {
		fmt.Fprintf(w, "\nThe part ended early: %s\n", r.Err)
	}
	fmt.Fprintln(w)
}
