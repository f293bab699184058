package main

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"hotline/internal/sippstat"
	"hotline/metrics"
)

// readRecords counts a recording as stored only with its WAV, and as
// having audio both ways only when both channels received packets.
func TestSIPpRecords(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wav := string(testWAV(200, 44))
	write("a.json", `{"call_id":"a","duration_seconds":2,"stats":{"received":[99,98],"dropped":0}}`)
	write("a.wav", wav)
	write("b.json", `{"call_id":"b","duration_seconds":2,"stats":{"received":[99,0],"dropped":5}}`)
	write("b.wav", wav)
	write("c.json", `{"call_id":"c","duration_seconds":2,"stats":{"received":[99,99]}}`) // no WAV
	// d: both sides, the caller's with 8 of its 100 packets (the relay
	// behind); e: 0.3 s, too short to judge.
	write("d.json", `{"call_id":"d","duration_seconds":2,"stats":{"received":[8,90],"dropped":0}}`)
	write("d.wav", wav)
	write("e.json", `{"call_id":"e","duration_seconds":0.3,"stats":{"received":[1,1],"dropped":0}}`)
	write("e.wav", wav)
	// f: 9 s long (the hang-up handled late), with the 2 s the callers
	// talk: not clipped.
	write("f.json", `{"call_id":"f","duration_seconds":9,"stats":{"received":[90,95],"dropped":0}}`)
	write("f.wav", wav)
	rc := readRecords(dir, 2*time.Second)
	if rc.Records != 6 || rc.Stored != 5 || rc.WithAudio != 4 || rc.Dropped != 5 || !rc.IDs["a"] || !rc.IDs["b"] || rc.IDs["c"] {
		t.Errorf("records = %+v", rc)
	}
	if !slices.Equal(rc.Clipped, []string{"d"}) {
		t.Errorf("clipped: %v, want [d]", rc.Clipped)
	}
	if len(rc.NoAudio) != 1 || rc.NoAudio[0] != "b" {
		t.Errorf("silent side: %v, want [b]", rc.NoAudio)
	}
	// b misses all 98 packets of one side (2 s x 50/s, less 2 for the
	// edges), d 90 of one and 8 of the other, e 12 of each, f 358 and 353
	// (against its 9 s).
	if want := uint64(98 + 90 + 8 + 2*12 + 358 + 353); rc.Missing != want {
		t.Errorf("missing packets = %d, want %d", rc.Missing, want)
	}
}

// A rate step passes only with < 0.1% of the calls lost (refused calls
// and callers who never reached an agent included), a call record for
// every answered call, and every call connected to an agent recorded
// with audio both ways.
func TestSIPpRateStepPass(t *testing.T) {
	ok := sippRateStep{Rate: 100, Planned: 1000, Created: 1000, Answered: 1000, Connected: 1000, Stored: 1000, WithAudio: 1000,
		UACCores: []float64{0.2}}
	if !ok.pass() {
		t.Fatalf("a clean step failed: %s", ok.why())
	}
	for name, mod := range map[string]func(*sippRateStep){
		"refused":     func(s *sippRateStep) { s.Refused, s.Answered, s.Stored, s.WithAudio = 1, 999, 999, 999 },
		"failed":      func(s *sippRateStep) { s.Failed = 1 },
		"abandoned":   func(s *sippRateStep) { s.Abandoned, s.Connected, s.Stored, s.WithAudio = 1, 999, 999, 999 },
		"not placed":  func(s *sippRateStep) { s.Created = 999 },
		"no record":   func(s *sippRateStep) { s.NoRecord = 1 },
		"unrecorded":  func(s *sippRateStep) { s.Stored, s.Unrecorded = 999, []string{"x"} },
		"silent side": func(s *sippRateStep) { s.WithAudio, s.NoAudio = 999, []string{"x"} },
		"clipped":     func(s *sippRateStep) { s.Clipped = []string{"x"} },
		"saturated":   func(s *sippRateStep) { s.UACCores = []float64{0.97} },
		"not idle":    func(s *sippRateStep) { s.NotIdle = "hotline not idle after 30s: 15 calls" },
	} {
		s := ok
		mod(&s)
		if s.pass() {
			t.Errorf("%s: passed", name)
		}
		if s.why() == "ok" {
			t.Errorf("%s: no reason given", name)
		}
	}
}

// The recordings are judged against Hotline's call records: a caller
// answered in the queue who hung up before an agent is not a lost
// recording but a failed call; a connected call without a recording is
// lost; a silent side counts once the agent talked minTalkBothSides.
func TestSIPpJudgeRecordings(t *testing.T) {
	dir := t.TempDir()
	lines := []string{
		`{"call":{"call_id":"queued","queued":"2026-12-02T16:00:00Z","outcome":"abandoned","talk_seconds":0}}`,
		`{"call":{"call_id":"maxwait","queued":"2026-12-02T16:00:00Z","outcome":"timeout","talk_seconds":0}}`,
		`{"event":{"id":"e1","kind":"abandon","call_id":"queued"}}`,
		`{"call":{"call_id":"ok","connected":"2026-12-02T16:00:00Z","outcome":"answered","talk_seconds":2,"recording":"k/ok.wav"}}`,
		`{"call":{"call_id":"lost","connected":"2026-12-02T16:00:00Z","outcome":"answered","talk_seconds":2}}`,
		`{"call":{"call_id":"silent","connected":"2026-12-02T16:00:00Z","outcome":"answered","talk_seconds":1.5,"recording":"k/s.wav"}}`,
		`{"call":{"call_id":"short","connected":"2026-12-02T16:00:00Z","outcome":"answered","talk_seconds":0.1,"recording":"k/sh.wav"}}`,
		`{"call":{"call_id":"other-step","connected":"2026-12-02T16:00:00Z","outcome":"answered","talk_seconds":2}}`,
	}
	if err := os.WriteFile(filepath.Join(dir, "2026-12-02.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	placed := []string{"queued", "maxwait", "ok", "lost", "silent", "short", "refused"}
	calls := waitCallRecords(t.Context(), dir, placed, 6, time.Second)
	if len(calls) != 6 {
		t.Fatalf("call records read: %v, want the 6 placed calls that have one", calls)
	}
	rc := recCheck{Stored: 3, WithAudio: 1, IDs: map[string]bool{"ok": true, "silent": true, "short": true},
		NoAudio: []string{"short", "silent"}, Silent: map[string]string{"short": "agent", "silent": "caller"}}
	s := sippRateStep{Planned: 7, Created: 7, Answered: 6, Refused: 1, UACCores: []float64{0.1}}
	s.judgeRecordings(placed, calls, rc)
	if s.Connected != 4 || s.Abandoned != 2 || s.NoRecord != 0 {
		t.Errorf("connected %d, never reached an agent %d, no record %d; want 4, 2, 0", s.Connected, s.Abandoned, s.NoRecord)
	}
	if !slices.Equal(s.Unrecorded, []string{"lost"}) || !slices.Equal(s.NoAudio, []string{"silent (caller silent, talked 1.5s)"}) ||
		!slices.Equal(s.ShortSilent, []string{"short (agent silent, talked 100ms)"}) {
		t.Errorf("unrecorded %v, silent side %v, short silent %v; want [lost], [silent (caller...)], [short (agent...)]",
			s.Unrecorded, s.NoAudio, s.ShortSilent)
	}
	if s.lost() != 3 || s.pass() {
		t.Errorf("lost %d (want the refused call and the two that never reached an agent), pass %v (want false: %s)", s.lost(), s.pass(), s.why())
	}
}

// The share of a focus comes from go tool pprof's summary line, in
// seconds or milliseconds; no summary is no figure.
func TestParseFocusShare(t *testing.T) {
	for _, c := range []struct {
		out         string
		secs, share float64
	}{
		{"Type: cpu\nShowing nodes accounting for 1.48s, 39.15% of 3.78s total\n", 1.48, 39.15},
		{"Active filters:\n   focus=x\nShowing nodes accounting for 610ms, 28.64% of 2130ms total\n", 0.61, 28.64},
		{"Showing nodes accounting for 0, 0% of 3.78s total\n", 0, 0},
		{"go tool pprof: no matches\n", -1, -1},
	} {
		secs, share := parseFocusShare(c.out)
		if secs != c.secs || share != c.share {
			t.Errorf("%q: %v s, %v%%; want %v s, %v%%", c.out, secs, share, c.secs, c.share)
		}
	}
}

// newTestSIPpBench is a sippBench for end-to-end tests: SIPp required
// (skipped with -short), the repository's scenarios, a temporary working
// directory, processes stopped at the test's end, logs discarded.
func newTestSIPpBench(t *testing.T, cfg sippConfig) *sippBench {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: runs SIPp (make test runs it)")
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatalf("sipp not found (Debian package sip-tester; make deps installs it): %v", err)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	pr := &procs{}
	t.Cleanup(pr.stopAll)
	d := &driver{log: slog.New(slog.NewTextHandler(io.Discard, nil)), pr: pr, work: work, repo: repo, res: &results{}}
	sc := filepath.Join(repo, "bench", "sipp")
	return &sippBench{d: d, cfg: cfg, res: &sippResults{Cfg: cfg}, base: filepath.Join(work, "sipp"),
		caller: filepath.Join(sc, "caller.xml"), agent: filepath.Join(sc, "agent.xml"),
		register: filepath.Join(sc, "register.xml"), deadline: time.Now().Add(cfg.Budget)}
}

// The bench's SIPp scenarios against a real Hotline: agents register with
// digest auth from the injection file (two agent SIPps), callers place
// calls with audio both ways, every call is answered and recorded with
// audio from both sides, and the generated configuration enables the
// pprof endpoint.
func TestSIPpScenariosRecordCalls(t *testing.T) {
	cfg := sippConfig{Agents: 4, AgentsPerUAS: 2, RatePerUAC: 100, CallsPerUAC: 10, Hold: time.Second,
		StepDur: time.Second, Budget: 3 * time.Minute}
	b := newTestSIPpBench(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := filepath.Join(b.d.work, "hotline")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/hotline")
	build.Dir = b.d.repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/hotline: %v\n%s", err, out)
	}
	b.d.bin = bin
	// Overload control on the pressure file alone: the step below must
	// wait until Hotline no longer sheds before it places its calls.
	pressure := filepath.Join(t.TempDir(), "pressure")
	h, err := startHotline(ctx, b.d.pr, bin, filepath.Join(b.d.work, "run"), hotlineOpts{Agents: cfg.Agents, Pprof: true,
		Overload: "{pressure_file: " + pressure + ", confirm: 1, hold: 0s, release_ramp: -1s, scheduling_lag: -1ms, socket_backlog: -1, cpu: -1, recorder_drops: -1, max_setups: -1, socket_delay: -1ms}"})
	if err != nil {
		t.Fatal(err)
	}
	b.h = h
	if err := b.startAgents(ctx); err != nil {
		t.Fatal(err)
	}
	if len(b.uas) != 2 {
		t.Errorf("%d agent SIPps, want 2 (2 agents each)", len(b.uas))
	}
	// Shedding when the step is due (as after a step that overloaded
	// Hotline) and over a second later: the step starts once it is over.
	if err := os.WriteFile(pressure, []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		m, err := h.scrape(ctx)
		if err == nil && m[metrics.NameOverloadShedding] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Hotline did not shed on the pressure file: %v", err)
		}
	}
	cleared := time.AfterFunc(1500*time.Millisecond, func() { _ = os.WriteFile(pressure, []byte("0\n"), 0o600) })
	defer cleared.Stop()
	// Placed while it shed, every call would be refused (the pressure
	// file refuses all): none may be.
	s := b.rateStep(ctx, 4)
	if s.Planned != 4 || s.Created != 4 || s.Answered != 4 || s.Refused != 0 || s.Failed != 0 ||
		s.Stored != 4 || s.WithAudio != 4 || len(s.Unrecorded) != 0 || !s.pass() {
		t.Errorf("rate step: %+v (%s)", s, s.why())
	}
	if len(s.AnswerTimes) != 4 {
		t.Errorf("%d answer times, want 4", len(s.AnswerTimes))
	}
	// S3c: twice the rate with max_cps at five eighths of it (3), set
	// by a reload: the calls past the bound are refused by max_cps, and
	// the bound is taken out again after the step.
	b.boundStep(ctx, 4)
	o := b.res.OverloadBound
	if b.res.BoundCPS != 3 || o == nil {
		t.Fatalf("S3c: bound %v, step %+v; want max_cps 3 and a step", b.res.BoundCPS, o)
	}
	if o.Created != 8 || o.Refused == 0 || o.Refused+o.Answered != o.Created || o.Failed != 0 || o.Stored != o.Answered {
		t.Errorf("S3c step at 8 calls/s with max_cps 3: %+v (%s); want some of 8 refused, the rest answered and stored", *o, o.why())
	}
	if m, err := h.scrape(ctx, metrics.NameOverloadMaxCPS, metrics.NameCallsRefused); err != nil || m[metrics.NameOverloadMaxCPS] != 0 ||
		h.refusedByReason(ctx)["max_cps"] != float64(o.Refused) {
		t.Errorf("after S3c: %v (%v), refused by reason %v; want max_cps back to 0 and %d refused by max_cps", m, err, h.refusedByReason(ctx), o.Refused)
	}
	data, err := httpGet(ctx, strings.TrimSuffix(h.metrics, "/metrics")+"/debug/pprof/", 10*time.Second)
	if err != nil || !strings.Contains(string(data), "goroutine") {
		t.Errorf("pprof index of the bench's Hotline: %v\n%.200s", err, data)
	}
}

// TestSIPpBoundReport: S3c's figures come from its own step and name the
// bound; without the step they are there, unmeasured.
func TestSIPpBoundReport(t *testing.T) {
	s3 := sippRateStep{Rate: 800, Created: 100, Refused: 60, Answered: 40, AnswerTimes: []time.Duration{900 * time.Millisecond}}
	s3c := sippRateStep{Rate: 800, Created: 100, Refused: 70, Answered: 30, AnswerTimes: []time.Duration{40 * time.Millisecond}}
	r := &sippResults{Overload: &s3, OverloadBound: &s3c, BoundCPS: 250}
	got := map[string]float64{}
	for _, f := range r.figures() {
		if strings.HasPrefix(f.Name, "overload: time to answer p99") || strings.HasPrefix(f.Name, "overload: calls refused at once") {
			got[f.ID+" "+f.Name[:20]] = f.S.Median
			if f.ID == "S3c" && !strings.Contains(f.Name, "max_cps 250") {
				t.Errorf("S3c figure %q does not name the bound", f.Name)
			}
		}
	}
	want := map[string]float64{"S3 overload: time to an": 900, "S3 overload: calls refu": 60, "S3c overload: time to an": 40, "S3c overload: calls refu": 70}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	var b strings.Builder
	r.writeDetails(&b)
	if !strings.Contains(b.String(), "| S3c (2×, max_cps 250) | 800 |") {
		t.Errorf("details lack the S3c row:\n%s", b.String())
	}
	n := 0
	for _, f := range (&sippResults{}).figures() {
		if f.ID == "S3c" {
			n++
			if !math.IsNaN(f.S.Median) {
				t.Errorf("S3c figure %q measured without a step: %v", f.Name, f.S.Median)
			}
		}
	}
	if n == 0 {
		t.Error("no S3c figures without the step, want them unmeasured")
	}
}

// TestWithMaxCPS: the bench's configuration gains sip.overload.max_cps,
// in the overload flow mapping when there is one, replacing a bound set
// before, and nothing else changes.
func TestWithMaxCPS(t *testing.T) {
	plain := hotlineConfig("/tmp/x", 5070, 8090, 9470, hotlineOpts{Agents: 1})
	got := withMaxCPS(plain, 250)
	if want := strings.Replace(plain, "\nsip:\n", "\nsip:\n  overload: {max_cps: 250}\n", 1); got != want {
		t.Errorf("without an overload section:\n%s\nwant\n%s", got, want)
	}
	tuned := hotlineConfig("/tmp/x", 5070, 8090, 9470, hotlineOpts{Agents: 1, Overload: "{machine_cpu: 0.9, max_cps: 400, cut: 1}"})
	got = withMaxCPS(tuned, 0)
	if want := strings.Replace(tuned, "{machine_cpu: 0.9, max_cps: 400, cut: 1}", "{machine_cpu: 0.9, cut: 1, max_cps: 0}", 1); got != want {
		t.Errorf("with an overload section:\n%s\nwant\n%s", got, want)
	}
}

// TestSIPpFixedOverloadReport: S3 taken at -overload-cps says so, with a
// row per step in the details and the last step's figures.
func TestSIPpFixedOverloadReport(t *testing.T) {
	steps := []sippRateStep{
		{Rate: 720, Created: 100, Refused: 40, Answered: 60, AnswerTimes: []time.Duration{20 * time.Millisecond}},
		{Rate: 720, Created: 100, Refused: 50, Answered: 50, AnswerTimes: []time.Duration{30 * time.Millisecond}},
	}
	last := steps[1]
	r := &sippResults{FixedCPS: 720, FixedSteps: steps, Overload: &last}
	found := false
	for _, f := range r.figures() {
		if f.ID == "S3" && strings.HasPrefix(f.Name, "overload: calls refused at once") {
			found = true
			if !strings.Contains(f.Name, "fixed 720 calls/s") || f.S.Median != 50 {
				t.Errorf("S3 refused figure: %q median %v, want the fixed rate and 50%%", f.Name, f.S.Median)
			}
		}
	}
	if !found {
		t.Fatal("no S3 refused figure")
	}
	for _, f := range r.figures() {
		if f.ID == "S3c" {
			t.Errorf("S3c figure %q in a fixed-rate run, which takes none", f.Name)
		}
	}
	var b strings.Builder
	r.writeDetails(&b)
	for _, want := range []string{"| S3 (fixed, 1) | 720 |", "| S3 (fixed, 2) | 720 |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("details lack %q:\n%s", want, b.String())
		}
	}
}

// TestStepSeconds: a step's answers and refusals are summed by the second
// their INVITE was sent in (from the first, whichever SIPp sent it),
// with the slow ones against S3's targets, and the report has the
// overload steps' seconds.
func TestStepSeconds(t *testing.T) {
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	rows := []sippstat.RTT{
		{Sent: ms(300), Took: ms(3), No: 3}, // a 180: not counted
		{Sent: ms(500), Took: ms(4), No: 1},
		{Sent: ms(1600), Took: ms(250), No: 1},
		{Sent: ms(1650), Took: ms(20), No: 1},
		{Sent: ms(2600), Took: ms(30), No: 2},
		{Sent: ms(2700), Took: ms(2), No: 2},
	}
	got := stepSeconds(rows)
	want := []sippSecond{
		{Answered: 1, Answer99: ms(4)},
		{Answered: 2, SlowAnswers: 1, Answer99: ms(250)},
		{Refused: 2, SlowRefusals: 1, Refuse99: ms(30)},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("seconds = %+v, want %+v", got, want)
	}
	if stepSeconds(nil) != nil {
		t.Error("seconds of no row, want none")
	}
	if line := secondsLine(got); !strings.Contains(line, "1s: 2 (1) 250ms / 0 (0) 0s") {
		t.Errorf("log line %q", line)
	}
	s3 := sippRateStep{Rate: 800, Created: 5, Seconds: got}
	// The profile step at 80% of S1: its seconds and its answer p99
	// (figure S1f, against issue 15's 10 ms).
	var answers []time.Duration
	for i := range 100 {
		answers = append(answers, time.Duration(i+1)*time.Millisecond)
	}
	prof := &sippProfile{Rate: 320, Step: sippRateStep{Rate: 320, Created: 100, AnswerTimes: answers, Seconds: got}}
	r := &sippResults{Overload: &s3, Profile: prof}
	var b strings.Builder
	r.writeDetails(&b)
	for _, row := range []string{"| S3 (2×) | 1 | 2 | 1 | 250 | 0 | 0 | 0 |", "| profile (80% of S1) | 1 | 2 | 1 | 250 | 0 | 0 | 0 |"} {
		if !strings.Contains(b.String(), row) {
			t.Errorf("details lack %q:\n%s", row, b.String())
		}
	}
	var s1f *figure
	for _, f := range r.figures() {
		if f.ID == "S1f" {
			s1f = &f
		}
	}
	if s1f == nil || s1f.S.N != 1 || s1f.S.Median != 99 || s1f.Target == nil || s1f.Target.Value != 10 || !strings.Contains(s1f.Name, "320 calls/s") {
		t.Errorf("figure S1f %+v, want the profile step's answer p99 (99 ms) against 10 ms, at 320 calls/s", s1f)
	}
}

// TestSIPpConcCutVerdict: a concurrency ramp that ended with no step
// failed (a quick run's last step is 600 calls) has not reached S2's
// target, which the verdict says, rather than "missed"; a ramp a step of
// which failed has missed it.
func TestSIPpConcCutVerdict(t *testing.T) {
	s2 := func(r *sippResults) string {
		var b strings.Builder
		writeFigures(&b, r.figures())
		for _, l := range strings.Split(b.String(), "\n") {
			if strings.HasPrefix(l, "| S2 |") {
				return l
			}
		}
		t.Fatalf("no S2 line:\n%s", b.String())
		return ""
	}
	steps := []sippConcStep{{Target: 150, Up: 150}, {Target: 300, Up: 300}, {Target: 600, Up: 600}}
	cut := &sippResults{Conc: steps, ConcMax: 600, ConcCut: "its last step"}
	if l := s2(cut); !strings.HasSuffix(l, "| ≥ 2,000 | not reached: the ramp ended at 600 calls, none failed (its last step) |") {
		t.Errorf("ramp ended at its last step: %s", l)
	}
	failed := &sippResults{Conc: append(steps, sippConcStep{Target: 1200, Up: 1100, Failed: 100}), ConcMax: 600}
	if l := s2(failed); !strings.HasSuffix(l, "| ≥ 2,000 | missed by 70% (0.30x the target) |") {
		t.Errorf("ramp with a failed step: %s", l)
	}
	full := &sippResults{Conc: []sippConcStep{{Target: 2000, Up: 2000}}, ConcMax: 2000, ConcCut: "its last step"}
	if l := s2(full); !strings.HasSuffix(l, "| ≥ 2,000 | met (1.00x the target) |") {
		t.Errorf("ramp that reached the target: %s", l)
	}
}

// TestSIPpConcDropsByStep: the concurrency ramp's table says how many
// packets Hotline's recorders dropped in each step (those the kernel
// relay's full ring left without a copy among them), without failing it,
// and how many of the ramp's drops came after the last step's window.
func TestSIPpConcDropsByStep(t *testing.T) {
	r := &sippResults{Cfg: defaultSIPpConfig(false), Conc: []sippConcStep{
		{Target: 1500, Up: 1500, HotlineCores: 0.55},
		{Target: 2000, Up: 2000, HotlineCores: 0.75, RecDropped: 960097, RingFull: 960000},
	}, ConcMax: 2000, ConcDrops: 1261438}
	var b strings.Builder
	r.writeDetails(&b)
	for _, want := range []string{
		"| 1500 | 1500 | 0 | 0.55 | 0.00 | 0% | 0 | 0 | 0 | 0 (0) | pass |",
		"| 2000 | 2000 | 0 | 0.75 | 0.00 | 0% | 0 | 0 | 0 | 960097 (960000) | pass |",
		"1261438 packets dropped by recorders (301341 of them after the last step's window: the calls held to the ramp's end, then hung up)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the ramp's table lacks %q:\n%s", want, b.String())
		}
	}
	r.ConcDrops = 960097 // every drop within the steps' windows
	b.Reset()
	r.writeDetails(&b)
	if strings.Contains(b.String(), "after the last step's window") {
		t.Errorf("drops after the last window reported where the steps hold them all:\n%s", b.String())
	}
}
