package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// s1Target is the rate figure S1 aims for (issue 15).
const s1Target = 400

// sippDirect is figure S0: the SIPps alone. Caller SIPps call an agent
// SIPp straight (no Hotline between them) with the calls of an S1 step,
// so the report shows what the load generator itself takes of the
// machine at the rate S1 aims for: what is left of it is what Hotline
// may use there.
type sippDirect struct {
	Rate            float64
	Created, Failed int
	Window          time.Duration // the measurement window: calls of Hold in progress
	MachineBusy     float64       // share of all CPUs busy over the window (/proc/stat)
	SIPpCores       float64       // every SIPp's own CPU over the window
	CPUs            int
	AnswerTimes     []time.Duration // INVITE → 200 at the callers (-trace_rtt): the SIPps' own part of S1c and S1f
	Err             string
}

// direct measures figure S0 at rate: calls placed for StepDur, each
// talking Hold, measured from Hold after the first call (the calls in
// progress at their steady number) to the last call placed.
func (b *sippBench) direct(ctx context.Context, rate float64) *sippDirect {
	d := &sippDirect{Rate: rate, CPUs: runtime.NumCPU()}
	if err := b.directRun(ctx, d); err != nil {
		d.Err = err.Error()
		b.d.note("SIPp figure S0: %v", err)
	}
	b.d.log.Info("SIPp figure S0", "cps", rate, "created", d.Created, "failed", d.Failed,
		"answer_p50", DurationPercentile(d.AnswerTimes, 50), "answer_p99", DurationPercentile(d.AnswerTimes, 99),
		"machine_busy", fmt.Sprintf("%.0f%%", 100*d.MachineBusy), "sipp_cores", fmt.Sprintf("%.2f", d.SIPpCores), "err", d.Err)
	return d
}

func (b *sippBench) directRun(ctx context.Context, d *sippDirect) error {
	port, err := freeUDPPort()
	if err != nil {
		return err
	}
	mport, err := freeUDPPort()
	if err != nil {
		return err
	}
	uas, err := startSIPp(b.d.pr, &b.seq, b.base, "direct-agent", []string{"-sf", b.agent, "-p", fmt.Sprint(port),
		"-mp", fmt.Sprint(mport), "-rtp_echo"})
	if err != nil {
		return err
	}
	defer uas.stop(3 * time.Second)
	if err := waitSIPpUp(uas); err != nil {
		return fmt.Errorf("agent %w", err)
	}
	calls, n, bound := b.stepPlan(d.Rate, b.cfg.StepDur)
	ps, err := b.callersTo(fmt.Sprintf("127.0.0.1:%d", port), calls, d.Rate, b.cfg.Hold, n, bound)
	defer func() {
		for _, p := range ps {
			p.stop(3 * time.Second)
		}
	}()
	if err != nil {
		return err
	}
	d.Window = b.cfg.StepDur - b.cfg.Hold
	if d.Window <= 0 {
		return fmt.Errorf("step of %s with calls of %s: no window", b.cfg.StepDur, b.cfg.Hold)
	}
	select {
	case <-time.After(b.cfg.Hold):
	case <-ctx.Done():
		return ctx.Err()
	}
	all := append([]*sippProc{uas}, ps...)
	busy0, tot0, err := MachineCPU()
	if err != nil {
		return err
	}
	s0, t0 := sumCPU(all), time.Now()
	select {
	case <-time.After(d.Window):
	case <-ctx.Done():
		return ctx.Err()
	}
	busy1, tot1, err := MachineCPU()
	if err != nil {
		return err
	}
	s1, el := sumCPU(all), time.Since(t0)
	d.MachineBusy = busyShare(busy0, tot0, busy1, tot1)
	d.SIPpCores = (s1 - s0).Seconds() / el.Seconds()
	var errs []error
	for _, p := range ps {
		if err := p.wait(ctx, bound); err != nil {
			errs = append(errs, err)
			continue
		}
		st, err := p.stats()
		if err != nil {
			errs = append(errs, fmt.Errorf("caller SIPp statistics: %w", err))
			continue
		}
		d.Created += st.Created
		d.Failed += st.Failed
		rt, err := p.rtts()
		if err != nil {
			errs = append(errs, fmt.Errorf("caller SIPp response times: %w", err))
		}
		d.AnswerTimes = append(d.AnswerTimes, rt[1]...)
	}
	if d.Created < calls {
		errs = append(errs, fmt.Errorf("%d of %d calls placed", d.Created, calls))
	}
	return errors.Join(errs...)
}

// waitSIPpUp waits up to 5 s for a SIPp server to write its first
// statistics (it has bound its ports by then).
func waitSIPpUp(p *sippProc) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if !p.alive() {
			return fmt.Errorf("SIPp exited at start (exit %d): %s", p.exitCode(), p.logTail(5))
		}
		if _, err := p.stats(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("SIPp wrote no statistics within 5 s")
}
