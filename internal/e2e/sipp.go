package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"hotline/internal/sippstat"
)

// SIPp 3.6.1 exit codes.
const (
	SIPpExitAllOK       = 0   // every call succeeded
	SIPpExitSomeFailed  = 1   // at least one call failed
	SIPpExitInternal    = 97  // exit on internal command (e.g. SIGUSR1)
	SIPpExitNoCalls     = 99  // normal exit without any call processed
	SIPpExitFatal       = 255 // fatal error (bad scenario, ...)
	SIPpExitFatalSocket = 254 // fatal error binding a socket
)

// ErrSIPpStats is returned when SIPp's statistics file cannot be parsed.
var ErrSIPpStats = errors.New("e2e: cannot read SIPp statistics")

// SIPpOptions configures one SIPp run.
type SIPpOptions struct {
	// Target is the remote host:port (the server under test) for UAC
	// scenarios; empty for UAS scenarios.
	Target string
	// Service is the Request-URI user of UAC scenarios (-s).
	Service string
	// Caller is the From user of the scenarios built by this package
	// (the [caller] key, default "sipp").
	Caller string
	// Scenario to run: one of the builders of this package, or
	// Builtin("uac") for an embedded one.
	Scenario Scenario
	// Calls stops SIPp after that many calls (-m, default 1).
	Calls int
	// Rate is the call rate in calls per second (-r, default 10).
	Rate float64
	// Concurrent caps simultaneous calls (-l, default: no cap).
	Concurrent int
	// CallDuration is the pause of embedded scenarios (-d).
	CallDuration time.Duration
	// Transport is SIPp's -t: "u1" (default, UDP one socket), "un", "t1"
	// (TCP one socket), "tn".
	Transport string
	// Timeout is the global timeout (-timeout, with -timeout_error so
	// that reaching it is a failure). Default: 30 s, or less if ctx has
	// an earlier deadline.
	Timeout time.Duration
	// LocalPort is the SIP port (-p), MediaPort the RTP base (-mp; SIPp
	// binds mp and mp+2). 0 picks free ones.
	LocalPort, MediaPort int
	// Keys are extra -key name value pairs, usable as [name] in XML.
	Keys map[string]string
	// ExtraArgs are appended verbatim.
	ExtraArgs []string
	// Logger receives driver diagnostics (default: discarded).
	Logger *slog.Logger
}

// SIPpStats are the cumulative counters of SIPp's -trace_stat file at exit.
type SIPpStats = sippstat.Stats

// SIPpResult is what a finished SIPp run reports.
type SIPpResult struct {
	ExitCode int
	Stats    SIPpStats
	// StatsErr is set when the statistics could not be read (then Stats
	// is zero).
	StatsErr error
	// Dir holds the scenario, stdout (sipp.out), statistics and trace
	// files (*_messages.log, *_errors.log).
	Dir string
	// LocalPort and MediaPort that SIPp used.
	LocalPort, MediaPort int
}

// String summarises the result.
func (r *SIPpResult) String() string {
	return fmt.Sprintf("exit %d, created %d, successful %d, failed %d (unexpected %d, recv timeout %d, max retrans %d, rejected %d)",
		r.ExitCode, r.Stats.Created, r.Stats.Successful, r.Stats.Failed, r.Stats.FailedUnexpected,
		r.Stats.FailedTimeoutOnRecv, r.Stats.FailedMaxUDPRetrans, r.Stats.FailedCallRejected)
}

// RequireCalls fails the test unless exactly successful calls succeeded and
// failed calls failed; it then logs SIPp's error trace and the tail of its
// message trace.
func (r *SIPpResult) RequireCalls(t testing.TB, successful, failed int) {
	t.Helper()
	if r.StatsErr == nil && r.Stats.Successful == successful && r.Stats.Failed == failed {
		return
	}
	t.Errorf("e2e: SIPp: want %d successful and %d failed calls, got %s; statistics error: %v\n%s",
		successful, failed, r, r.StatsErr, r.Diagnostics(80))
}

// Diagnostics returns SIPp's error log and the tail of its message trace
// and screen output, for failure messages.
func (r *SIPpResult) Diagnostics(lines int) string {
	var sb strings.Builder
	for _, pat := range []string{"*_errors.log", "*_messages.log", "sipp.out"} {
		m, _ := filepath.Glob(filepath.Join(r.Dir, pat))
		for _, f := range m {
			fmt.Fprintf(&sb, "--- %s (tail)\n%s\n", filepath.Base(f), LogTail(f, lines))
		}
	}
	return sb.String()
}

// SIPp is a SIPp process started in the background by StartSIPp.
type SIPp struct {
	opts   SIPpOptions
	res    *SIPpResult
	cmd    *exec.Cmd
	exited chan struct{}
	log    *slog.Logger

	once     sync.Once
	finalRes *SIPpResult
}

// RunSIPp runs SIPp to completion (or until ctx ends, then kills it) and
// returns its result. Failing to start SIPp fails the test; the outcome of
// the calls is only reported (see SIPpResult.RequireCalls).
func RunSIPp(ctx context.Context, t testing.TB, opts SIPpOptions) *SIPpResult {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			if left := time.Until(dl) - 500*time.Millisecond; left < opts.Timeout && left > 0 {
				opts.Timeout = left
			}
		}
	}
	p := StartSIPp(t, opts)
	res, err := p.Wait(ctx)
	if err != nil {
		t.Logf("e2e: %v", err)
	}
	return res
}

// StartSIPp starts SIPp in the background and returns at once; collect the
// result with Wait, or end it with Stop (also done by t.Cleanup). A UAS
// scenario should be started before the traffic that reaches it: SIPp
// binds its port within a few milliseconds, and StartSIPp waits until the
// SIP port is bound (UDP/TCP) before returning.
func StartSIPp(t testing.TB, opts SIPpOptions) *SIPp {
	t.Helper()
	bin := RequireTool(t, "sipp")
	// A port found free may be taken before SIPp binds it: when the
	// media ports were chosen here, try others (and another SIP port,
	// unless it was given). SIPp's exit status does not say which socket
	// it could not bind; a given SIP port that is taken fails every try.
	autoMedia := opts.MediaPort == 0
	for attempt := 1; ; attempt++ {
		p, err := startSIPp(t, bin, opts)
		if err == nil {
			return p
		}
		if autoMedia && attempt < 3 && errors.Is(err, errPortInUse) {
			t.Logf("e2e: SIPp start %d: %v; trying other ports", attempt, err)
			continue
		}
		t.Fatalf("e2e: %v", err)
	}
}

func startSIPp(t testing.TB, bin string, opts SIPpOptions) (*SIPp, error) {
	if opts.Calls == 0 {
		opts.Calls = 1
	}
	if opts.Rate == 0 {
		opts.Rate = 10
	}
	if opts.Transport == "" {
		opts.Transport = "u1"
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Caller == "" {
		opts.Caller = "sipp"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LocalPort == 0 {
		opts.LocalPort = FreeUDPTCPPort(t)
	}
	if opts.MediaPort == 0 {
		opts.MediaPort = FreeUDPPortBlock(t, 4)
	}
	dir := t.TempDir()
	args := []string{}
	if opts.Target != "" {
		args = append(args, opts.Target)
	}
	if opts.Scenario.XML != "" {
		name := opts.Scenario.Name
		if name == "" {
			name = "scenario"
		}
		file := filepath.Join(dir, name+".xml")
		if err := os.WriteFile(file, []byte(opts.Scenario.XML), 0o644); err != nil {
			return nil, fmt.Errorf("write scenario: %w", err)
		}
		args = append(args, "-sf", file)
	} else {
		if opts.Scenario.Name == "" {
			return nil, errors.New("SIPpOptions.Scenario is empty")
		}
		args = append(args, "-sn", opts.Scenario.Name)
	}
	if opts.Service != "" {
		args = append(args, "-s", opts.Service)
	}
	args = append(args,
		"-i", Loopback, "-p", strconv.Itoa(opts.LocalPort),
		"-mi", Loopback, "-mp", strconv.Itoa(opts.MediaPort),
		"-cp", strconv.Itoa(FreePort(t, "udp")),
		"-bind_local",
		"-t", opts.Transport,
		"-m", strconv.Itoa(opts.Calls),
		"-r", strconv.FormatFloat(opts.Rate, 'f', -1, 64),
		"-timeout", fmt.Sprintf("%dms", opts.Timeout.Milliseconds()),
		"-timeout_error",
		"-nostdin",
		"-aa",
		"-trace_stat", "-stf", filepath.Join(dir, "stats.csv"), "-fd", "1",
		"-trace_err", "-trace_msg",
		"-key", "caller", opts.Caller,
	)
	if opts.Concurrent > 0 {
		args = append(args, "-l", strconv.Itoa(opts.Concurrent))
	}
	if opts.CallDuration > 0 {
		args = append(args, "-d", strconv.FormatInt(opts.CallDuration.Milliseconds(), 10))
	}
	for k, v := range opts.Keys {
		args = append(args, "-key", k, v)
	}
	args = append(args, opts.ExtraArgs...)

	out, err := os.Create(filepath.Join(dir, "sipp.out"))
	if err != nil {
		return nil, err
	}
	p := &SIPp{
		opts:   opts,
		res:    &SIPpResult{Dir: dir, LocalPort: opts.LocalPort, MediaPort: opts.MediaPort},
		exited: make(chan struct{}),
		log:    opts.Logger.With("sipp", opts.Scenario.Name),
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = out
	p.cmd.Stderr = out
	p.cmd.SysProcAttr = childProcAttr()
	if err := p.cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start sipp: %w", err)
	}
	p.log.Debug("sipp started", "pid", p.cmd.Process.Pid, "args", strings.Join(args, " "))
	go func() {
		_ = p.cmd.Wait()
		out.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		res := p.Stop()
		if t.Failed() {
			t.Logf("e2e: SIPp %s: %s\n%s", opts.Scenario.Name, res, res.Diagnostics(40))
		}
	})
	if err := p.waitBound(opts.LocalPort, 5*time.Second); err != nil {
		p.Stop()
		if p.cmd.ProcessState.ExitCode() == SIPpExitFatalSocket {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return nil, fmt.Errorf("%w\n%s", err, p.res.Diagnostics(20))
	}
	return p, nil
}

// waitBound waits until SIPp has bound its SIP port (or exited).
func (p *SIPp) waitBound(port int, max time.Duration) error {
	network := "udp"
	if strings.HasPrefix(p.opts.Transport, "t") {
		network = "tcp"
	}
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		if portBound(network, port) {
			return nil
		}
		select {
		case <-p.exited:
			// A short scenario (one INVITE answered 404) can run to
			// completion before the first poll sees the port bound:
			// exit 0 means every call succeeded, which Wait reports.
			if code := p.cmd.ProcessState.ExitCode(); code != 0 {
				return fmt.Errorf("sipp exited at start (exit %d)", code)
			}
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("sipp did not bind %s port %d within %v", network, port, max)
}

// Wait waits for SIPp to exit by itself and returns its result; if ctx ends
// first SIPp is stopped and the error says so.
func (p *SIPp) Wait(ctx context.Context) (*SIPpResult, error) {
	select {
	case <-p.exited:
		return p.finish(), nil
	case <-ctx.Done():
		res := p.Stop()
		return res, fmt.Errorf("e2e: sipp %s stopped: %w", p.opts.Scenario.Name, ctx.Err())
	}
}

// Stop ends SIPp (SIGTERM, then SIGKILL after 2 s) if it is still running
// and returns its result. It is idempotent.
func (p *SIPp) Stop() *SIPpResult {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(2 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	return p.finish()
}

// LocalPort is SIPp's SIP port (-p).
func (p *SIPp) LocalPort() int { return p.res.LocalPort }

// MediaPort is SIPp's RTP base port (-mp).
func (p *SIPp) MediaPort() int { return p.res.MediaPort }

// Addr is SIPp's SIP address, "127.0.0.1:<LocalPort>": the target to give
// the server under test for a SIPp callee.
func (p *SIPp) Addr() string { return fmt.Sprintf("%s:%d", Loopback, p.res.LocalPort) }

// Dir is the directory with SIPp's scenario, output and traces.
func (p *SIPp) Dir() string { return p.res.Dir }

// Exited is closed when the SIPp process has exited.
func (p *SIPp) Exited() <-chan struct{} { return p.exited }

func (p *SIPp) finish() *SIPpResult {
	p.once.Do(func() {
		p.res.ExitCode = p.cmd.ProcessState.ExitCode()
		p.res.Stats, p.res.StatsErr = parseSIPpStats(filepath.Join(p.res.Dir, "stats.csv"))
		p.log.Debug("sipp finished", "result", p.res.String())
		p.finalRes = p.res
	})
	return p.finalRes
}

func parseSIPpStats(path string) (SIPpStats, error) {
	s, err := sippstat.ParseFile(path)
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrSIPpStats, err)
	}
	return s, nil
}

// Kill ends SIPp at once with SIGKILL, by PID: a caller that vanishes (no
// BYE, no more RTP). It waits for the process to exit and returns what its
// statistics file holds (possibly not the last calls' outcome).
func (p *SIPp) Kill() *SIPpResult {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	return p.finish()
}
