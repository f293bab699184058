package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSIPpDirect: figure S0 places its calls from caller SIPps straight
// to an agent SIPp, and measures the machine and the SIPps while they
// talk.
func TestSIPpDirect(t *testing.T) {
	b := newTestSIPpBench(t, sippConfig{RatePerUAC: 10, Hold: time.Second, StepDur: 2 * time.Second, Budget: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got := b.direct(ctx, 20) // 40 calls from two caller SIPps
	if got.Err != "" || got.Created != 40 || got.Failed != 0 || got.Window != time.Second {
		t.Fatalf("S0: %+v", got)
	}
	if got.MachineBusy <= 0 || got.MachineBusy > 1 || got.SIPpCores <= 0 {
		t.Errorf("S0 measured nothing: machine busy %v, SIPps %v cores", got.MachineBusy, got.SIPpCores)
	}
	if len(got.AnswerTimes) != 40 {
		t.Errorf("S0: %d answer times, want one per call (40)", len(got.AnswerTimes))
	}
}

// TestSIPpDirectFigures: S0 is the machine's busy CPUs with the SIPps
// alone, and S0a sets Hotline's CPU per call at the S1 rate against the
// idle CPU S0 leaves per call.
func TestSIPpDirectFigures(t *testing.T) {
	r := &sippResults{Rate: 200,
		RateSteps: []sippRateStep{{Rate: 200, Planned: 800, Created: 800, Answered: 800, Stored: 800, WithAudio: 800,
			Cores: 1, Elapsed: 6 * time.Second}},
		Direct: &sippDirect{Rate: 400, Created: 1600, CPUs: 2, MachineBusy: 0.25, SIPpCores: 0.45}}
	for i := range 100 {
		r.Direct.AnswerTimes = append(r.Direct.AnswerTimes, time.Duration(i+1)*time.Millisecond)
	}
	var b strings.Builder
	writeFigures(&b, r.figures())
	out := b.String()
	for _, want := range []string{
		"| S0 | the SIPps alone at 400 calls/s",
		"SIPps' own 0.45 cores; 0 of 1600 calls failed | /proc/stat | 0.5 |",
		// 1 core for 6 s over 800 calls: 7.5 ms each; S0 leaves 1.5 cores for 400 calls/s: 3.75 ms each.
		"| 7.5 | 7.5 | 7.5 | 1 | ≤ 3.75 (what S0 leaves) | missed by 100% (2.00x the limit) |",
		// The SIPps' own answer time, the floor under S1c and S1f.
		"| S0b | time to answer (INVITE → 200) p99 of the SIPps alone at 400 calls/s",
		"| SIPp 3.6.1 (bench/sipp: rtp_stream callers, -rtp_echo agents), -trace_rtt | 99 | 99 | 99 | 1 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("figures lack %q:\n%s", want, out)
		}
	}
	r.Direct.Failed = 3
	b.Reset()
	writeFigures(&b, r.figures())
	if out := b.String(); !strings.Contains(out, "| S0 |") || !strings.Contains(out, "3 of 1600 calls failed | /proc/stat | n/a |") {
		t.Errorf("S0 with failed calls is measured anyway:\n%s", out)
	}
}
