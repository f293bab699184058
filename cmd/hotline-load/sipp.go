package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zaf/g711"

	"hotline/internal/sippstat"
)

// SIPp as the benchmark drives it: the scenarios in bench/sipp (callers,
// agents, the agents' registration), one working directory per process
// (statistics, response times, error trace), every process started
// through procs so that it is stopped by PID however the benchmark ends.

// sippAudioFile is the raw mu-law file caller.xml streams (rtp_stream);
// it is written into each caller's working directory.
const sippAudioFile = "hotline-bench-pcmu.raw"

// sippAudio is one second of a 440 Hz tone, mu-law (PCMU), 8 kHz.
func sippAudio() []byte {
	out := make([]byte, 8000)
	for i := range out {
		v := 0.3 * 32767 * math.Sin(2*math.Pi*440*float64(i)/8000)
		out[i] = g711.EncodeUlawFrame(int16(v))
	}
	return out
}

// sippCommon are the flags of every SIPp the benchmark starts: loopback,
// statistics every second, errors traced, no keyboard, and a watchdog that
// does not end the run when the shared machine delays SIPp's scheduler.
func sippCommon() []string {
	return []string{"-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin",
		"-trace_stat", "-stf", "stats.csv", "-fd", "1", "-trace_err",
		"-watchdog_minor_maxtriggers", "1000000", "-watchdog_major_maxtriggers", "1000000"}
}

// sippProc is one SIPp process.
type sippProc struct {
	*child
	dir string
}

// sippSeq numbers the SIPp working directories.
type sippSeq struct{ n atomic.Int64 }

// startSIPp starts sipp with args (sippCommon added) in a new working
// directory under base.
func startSIPp(pr *procs, seq *sippSeq, base, name string, args []string) (*sippProc, error) {
	dir := filepath.Join(base, fmt.Sprintf("%s-%03d", name, seq.n.Add(1)))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, sippAudioFile), sippAudio(), 0o640); err != nil {
		return nil, err
	}
	cmd := exec.Command("sipp", append(append([]string(nil), args...), sippCommon()...)...)
	cmd.Dir = dir
	if err := os.WriteFile(filepath.Join(dir, "args"), []byte(strings.Join(cmd.Args, " ")+"\n"), 0o640); err != nil {
		return nil, err
	}
	c, err := pr.start("sipp "+name, cmd, filepath.Join(dir, "sipp.out"))
	if err != nil {
		return nil, err
	}
	return &sippProc{child: c, dir: dir}, nil
}

// wait waits for SIPp to exit, at most bound (then stops it).
func (p *sippProc) wait(ctx context.Context, bound time.Duration) error {
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-p.exited:
		return nil
	case <-t.C:
		p.stop(3 * time.Second)
		return fmt.Errorf("sipp still running after %s: stopped", bound)
	case <-ctx.Done():
		p.stop(3 * time.Second)
		return ctx.Err()
	}
}

// cpu is the CPU time SIPp used: from the exit status once it exited,
// from /proc before.
func (p *sippProc) cpu() time.Duration {
	if !p.alive() && p.cmd.ProcessState != nil {
		return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
	}
	d, _ := ProcCPU(p.PID())
	return d
}

// exitCode is SIPp's exit code (-1 while running).
func (p *sippProc) exitCode() int {
	if p.alive() || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// stats reads SIPp's statistics (the last row, written every second and
// at exit).
func (p *sippProc) stats() (sippstat.Stats, error) {
	return sippstat.ParseFile(filepath.Join(p.dir, "stats.csv"))
}

// rtts reads the response times of -trace_rtt, by rtd number.
func (p *sippProc) rtts() (map[int][]time.Duration, error) {
	rows, err := p.rttRows()
	return sippstat.ByNumber(rows), err
}

// rttRows reads the rows of -trace_rtt, with when each request was sent.
func (p *sippProc) rttRows() ([]sippstat.RTT, error) {
	files, _ := filepath.Glob(filepath.Join(p.dir, "*_rtt.csv"))
	var out []sippstat.RTT
	for _, f := range files {
		rows, err := sippstat.ParseRTTRows(f)
		if err != nil {
			return out, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// errorTail is the end of SIPp's error trace and screen output.
func (p *sippProc) errorTail(n int) string {
	var parts []string
	files, _ := filepath.Glob(filepath.Join(p.dir, "*_errors.log"))
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil {
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) > n {
				lines = lines[len(lines)-n:]
			}
			parts = append(parts, strings.Join(lines, " | "))
		}
	}
	return strings.Join(parts, " | ")
}

// sippAgents writes an injection file for register.xml: one line per
// agent, its username and its [authentication] keyword.
func sippAgents(path string, users []string) error {
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for _, u := range users {
		fmt.Fprintf(&b, "%s;[authentication username=%s password=%s]\n", u, u, agentPassword(u))
	}
	return os.WriteFile(path, []byte(b.String()), 0o640)
}

// ms is a duration as SIPp's milliseconds argument.
func msArg(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }
