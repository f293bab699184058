package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRateStepRefusedApart: a call-rate step counts the calls refused at
// once (503) apart from the admitted calls that failed: a sustainable
// rate refuses < 0.1% and fails < 0.1% of what it admits, and the
// reason names which.
func TestRateStepRefusedApart(t *testing.T) {
	ok := rateStep{Attempted: 2000, Uploaded: 2000, Expected: 2000}
	if !ok.pass() {
		t.Fatalf("clean step failed: %s", ok.why())
	}
	refused := ok
	refused.Refused = 100
	if refused.pass() || !strings.Contains(refused.why(), "100/2000 refused at once (503)") ||
		strings.Contains(refused.why(), "admitted calls failed") {
		t.Errorf("100 of 2000 refused: pass %v, why %q", refused.pass(), refused.why())
	}
	refused.RefusedBy = "socket_backlog=100"
	if !strings.Contains(refused.why(), "100/2000 refused at once (503: socket_backlog=100)") {
		t.Errorf("refusals by reason: why %q does not name socket_backlog", refused.why())
	}
	refused.RefusedBy = ""
	if got := refused.failedShare(); got != 0 {
		t.Errorf("refused calls counted as admitted failures: failed share %v", got)
	}
	failed := ok
	failed.Refused, failed.Failed, failed.Errors = 1, 2, map[string]int{"INVITE: timeout": 2}
	// 1 of 2000 refused passes (0.05%), 2 of 1999 admitted failed (0.1%) does not.
	if failed.pass() || !strings.Contains(failed.why(), "2/1999 admitted calls failed") ||
		strings.Contains(failed.why(), "refused") {
		t.Errorf("2 admitted calls failed: pass %v, why %q", failed.pass(), failed.why())
	}
	all := rateStep{Attempted: 10, Refused: 10}
	if all.pass() || all.failedShare() != 0 || all.refusedShare() != 1 {
		t.Errorf("every call refused: pass %v, failed %v, refused %v", all.pass(), all.failedShare(), all.refusedShare())
	}
}

// TestReportOverloadFigure: figure 1o reports the 2× step's refused share,
// the admitted calls' failures and p99s (the 503's also as Hotline's
// histogram has it), and the step's row says refused and
// admitted-then-failed apart.
func TestReportOverloadFigure(t *testing.T) {
	r := &results{Cfg: benchConfig{GoFigures: true, StepDur: 3 * time.Second, Hold: time.Second},
		RateReps: []float64{100},
		Overload: []rateStep{{Rate: 200, Attempted: 600, Refused: 150, Failed: 0,
			To200: []time.Duration{20 * time.Millisecond, 40 * time.Millisecond}, RefuseTimes: []time.Duration{3 * time.Millisecond},
			HotlineRefuse99: 2500 * time.Microsecond}}}
	var b strings.Builder
	writeFigures(&b, r.figures())
	out := b.String()
	for _, want := range []string{
		"| 1o | overload: calls refused at once (503) at 2× the figure-1 rate (200 calls/s offered) (%) | hotline-load (Go, sipgo + sendmmsg RTP) | 25 |",
		"| 1o | overload: admitted calls that failed at 2× the figure-1 rate (200 calls/s offered) (%) | hotline-load (Go, sipgo + sendmmsg RTP) | 0 |",
		"INVITE → 503 p99 of refused calls",
		"the door's 503 sent; upper bound of the histogram's bucket; the rest of the line above is the generator's) at 2× the figure-1 rate (200 calls/s offered) (ms) | hotline_calls_refused_seconds | 2.5 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("figures lack %q:\n%s", want, out)
		}
	}
	b.Reset()
	r.writeDetails(&b)
	if !strings.Contains(b.String(), "| 1 (2× overload) | file | 200 | 600 | 150 | 0 |") {
		t.Errorf("no 2× row with 150 refused and 0 failed apart:\n%s", b.String())
	}
}

// TestRateStepCountsOnlyCallsThatReachedAnAgent: a call answered in the
// queue and offered to an agent whose answer was never bridged (its
// caller hung up first) is a failed call, not a recording to wait for;
// one whose agent's answer was acknowledged must be recorded.
func TestRateStepCountsOnlyCallsThatReachedAnAgent(t *testing.T) {
	up := make(chan struct{})
	close(up)
	offered := make(chan struct{})
	res := []callResult{
		{OK: true, Bridged: true, ToAgent: time.Millisecond, agentUp: up},
		{OK: true, Bridged: true, ToAgent: time.Millisecond, agentUp: offered},
		{OK: true, Bridged: true, agentUp: offered}, // hung up in the queue before any offer: no agent, no recording
		{Refused: true},
	}
	s := rateStep{Errors: map[string]int{}}
	s.countReached(res)
	if s.Expected != 1 || s.Failed != 1 || s.Errors[errHungUpBeforeAgent] != 1 {
		t.Errorf("expected %d recordings and %d failed (%v), want 1 and 1", s.Expected, s.Failed, s.Errors)
	}
}

// TestRateStepJudgesAnswersByHotlineRecords: where the generator's agents
// and Hotline disagree, the nodes' call records decide, as in the SIPp
// figures. A call Hotline recorded as never connected (its caller hung up
// in the queue while an agent's answer crossed nodes) failed and needs no
// recording; a call it recorded as connected must be recorded even when
// the agent's acknowledgement never reached the generator; a call
// without a record keeps the generator's judgement.
func TestRateStepJudgesAnswersByHotlineRecords(t *testing.T) {
	t.Parallel()
	write := func(dir, lines string) {
		if err := os.MkdirAll(filepath.Join(dir, "records"), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "records", "2026-12-05.jsonl"), []byte(lines), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n1, n2 := t.TempDir(), t.TempDir()
	write(n1, `{"event":{"type":"queued","call_id":"a"}}
{"call":{"call_id":"a","connected":"2026-12-05T04:32:38.830147Z","talk_seconds":1.007,"outcome":"answered","recording":"recordings/a.wav"}}
{"call":{"call_id":"d","outcome":"abandoned","cause":"caller hung up"}}
`)
	write(n2, `{"call":{"call_id":"b","outcome":"abandoned","cause":"caller hung up"}}
{"call":{"call_id":"e","connected":"2026-12-05T04:32:39.1Z","talk_seconds":0.01,"outcome":"answered","recording":"recordings/e.wav"}}
`)
	up := make(chan struct{})
	close(up)
	never := make(chan struct{})
	res := []callResult{
		{OK: true, Bridged: true, ToAgent: time.Millisecond, agentUp: up, CallID: "a"},
		{OK: true, Bridged: true, ToAgent: time.Millisecond, agentUp: up, CallID: "b"},
		{OK: true, Bridged: true, ToAgent: time.Millisecond, agentUp: up, CallID: "c"}, // no record
		{OK: true, Bridged: true, CallID: "d"},                                         // abandoned before any offer: never expected
		{OK: true, Bridged: true, ToAgent: time.Millisecond, agentUp: never, CallID: "e"},
	}
	s := rateStep{Attempted: len(res), Uploaded: 3, Errors: map[string]int{}}
	s.countReached(res)
	if s.Expected != 3 || s.Failed != 1 || s.Errors[errHungUpBeforeAgent] != 1 {
		t.Fatalf("before the records: expected %d, failed %d (%v); want 3 and e failed", s.Expected, s.Failed, s.Errors)
	}
	moved := s.judgeByRecords(context.Background(), hotlineSet{{dir: n1}, {dir: n2}}, res)
	if moved != 2 || s.Expected != 3 || s.Failed != 1 || s.Errors[errNeverConnected] != 1 || len(s.Errors) != 1 || s.ByRecords != 3 {
		t.Errorf("moved %d, expected %d, failed %d (%v), records read %d; want b failed, e expected: 2, 3, 1, 3",
			moved, s.Expected, s.Failed, s.Errors, s.ByRecords)
	}
	if !res[4].expected || res[4].missed || res[1].expected {
		t.Errorf("e expected %v missed %v, b expected %v", res[4].expected, res[4].missed, res[1].expected)
	}
	// Three stored for the three expected: the step fails on the call that
	// failed its caller, not on a recording.
	if why := s.why(); strings.Contains(why, "recordings uploaded") || !strings.Contains(why, errNeverConnected) {
		t.Errorf("why %q: want the never-connected call, not a missing recording", why)
	}
}

// busyThenIdle is a Hotline using a whole core for busy windows of
// settle's, then nothing.
type busyThenIdle struct {
	calls, busy int
	cpu         time.Duration
}

func (b *busyThenIdle) usage() (time.Duration, int64) {
	b.calls++
	if b.calls <= 2*b.busy && b.calls%2 == 0 { // each window's second reading
		b.cpu += 250 * time.Millisecond
	}
	return b.cpu, 0
}

// TestSettleWaitsForAQuietHotline: the first step starts once Hotline is
// quiet after the registrations, and no later than the bound when it
// never is.
func TestSettleWaitsForAQuietHotline(t *testing.T) {
	t.Parallel()
	b := &busyThenIdle{busy: 3}
	took, share := settle(context.Background(), b, 10*time.Second)
	if b.calls != 8 || share >= quietCores || took < 900*time.Millisecond {
		t.Errorf("settled after %d readings (%s, last %.2f cores), want 3 busy windows and a quiet one", b.calls, took, share)
	}
	always := &busyThenIdle{busy: 1000}
	took, share = settle(context.Background(), always, 600*time.Millisecond)
	if took < 600*time.Millisecond || took > 2*time.Second || share < 0.9 {
		t.Errorf("never quiet: gave up after %s at %.2f cores, want about the 600 ms bound", took, share)
	}
}
