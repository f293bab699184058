// Command hotline-load measures what one machine running Hotline can
// carry. It acts as many callers and as a pool of registered agents on
// 127.0.0.1 (SIP through sipgo, probe RTP at 50 packets/s each way through
// sendmmsg/recvmmsg), and runs the benchmark of issue 6:
//
//	hotline-load bench [-quick] [-parts go,sipp,cluster,xfer] [-name NAME] [-out bench/results] [-repo .]
//	hotline-load soak [-quick] [-duration 30m] [-rate 15] [-seed N] [-out bench/results]
//	hotline-load relay -pairs N
//
// bench builds and starts Hotline (and MinIO), registers the agents,
// searches the highest call rate, ramps up concurrent recorded calls,
// compares Hotline's relay with the bare relay, then measures the same
// with SIPp as callers and agents (bench/sipp: call rate, concurrent
// calls, twice the sustainable rate, and a CPU profile of Hotline), and
// writes <out>/<YYYY-MM-DD>-<host>[-NAME].md. soak runs steady, varied load (hang-ups,
// agents not answering, callers abandoning, hold re-INVITEs) for a long
// time and checks that Hotline returns to its baseline and lost no call
// record or recording; it writes <out>/<YYYY-MM-DD>-<host>-soak.md and
// exits 1 when a check fails. Every process they start is stopped by PID
// when they end, also on error or SIGINT/SIGTERM. relay is the bare UDP
// relay the benchmark compares Hotline's relay with.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: hotline-load bench [-quick] [-parts go,sipp,cluster,xfer] [-name NAME] [-out DIR] | hotline-load soak [-quick] [-duration D] | hotline-load relay -pairs N")
		return 2
	}
	switch args[0] {
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "soak":
		return runSoak(args[1:], stdout, stderr)
	case "relay":
		return runRelay(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "hotline-load: unknown command %q\n", args[0])
	return 2
}

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", os.Getenv("BENCH_QUICK") != "" && os.Getenv("BENCH_QUICK") != "0",
		"fewer repetitions and a coarser search (default from BENCH_QUICK)")
	out := fs.String("out", "bench/results", "directory of the report")
	repo := fs.String("repo", ".", "root of the Hotline source tree")
	reps := fs.Int("reps", 0, "repetitions of each figure (0: 3, or 1 with -quick)")
	noMinIO := fs.Bool("no-minio", false, "skip the MinIO (S3 backend) run")
	parts := fs.String("parts", "go,sipp,cluster,xfer", "figures to measure, comma-separated: go (the Go generator's), sipp (SIPp's), cluster (three nodes behind Kamailio sharing Redis, against one), xfer (CPU of a monitored call and of a transfer)")
	profile := fs.Duration("profile", 0, "length of the CPU profile of Hotline under SIPp load (0: 8s, 5s with -quick)")
	overload := fs.String("overload", os.Getenv("BENCH_OVERLOAD"), "Hotline's sip.overload settings as a YAML flow mapping, e.g. '{max_setups: 8}' (default from BENCH_OVERLOAD; empty: Hotline's defaults)")
	overloadStep := fs.Duration("overload-step", 0, "with -overload-cps and -parts sipp: how long each S3 step places calls (0: the rate steps' 8s, 4s with -quick), e.g. 30s for a sustained overload")
	overloadCPS := fs.Float64("overload-cps", envFloat("BENCH_OVERLOAD_CPS"), "figure 1o only (-parts go) or S3 only (-parts sipp): -reps steps at this many calls/s (no rate search, no other figure; default from BENCH_OVERLOAD_CPS)")
	readers := fs.String("rtp-readers", os.Getenv("BENCH_RTP_READERS"), "Hotline's rtp.readers, e.g. -1 (a goroutine per leg) to compare with the default (default from BENCH_RTP_READERS; empty: Hotline's default)")
	kernel := fs.String("rtp-kernel", os.Getenv("BENCH_RTP_KERNEL"), "Hotline's rtp.kernel, the in-kernel RTP relay: auto, on or off, e.g. off to compare with the user-space relay (default from BENCH_RTP_KERNEL; empty: Hotline's default)")
	hotlineLog := fs.String("hotline-log", os.Getenv("BENCH_HOTLINE_LOG"), "the measured Hotlines' log level: debug, info, warn or error, e.g. debug to investigate a run with -keep-work (default from BENCH_HOTLINE_LOG; empty: warn, as a line per call would be measured too)")
	hotlineEnv := fs.String("hotline-env", os.Getenv("BENCH_HOTLINE_ENV"), "space-separated NAME=VALUE added to the measured Hotlines' environment, e.g. GOGC=200 to compare runtime settings (default from BENCH_HOTLINE_ENV)")
	name := fs.String("name", os.Getenv("BENCH_NAME"), "suffix of the report's name: <date>-<host>-<name>.md (default from BENCH_NAME)")
	keepWork := fs.Bool("keep-work", os.Getenv("BENCH_KEEP_WORK") != "" && os.Getenv("BENCH_KEEP_WORK") != "0",
		"leave the work directory (recordings, logs) instead of deleting it at the end; its path is logged. For runs back to back: on an ext4 without a journal, deleting its thousands of files slows file creation for the next minutes, and so the next run's Hotline (default from BENCH_KEEP_WORK)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load generator itself (not Hotline) to this file, for finding what limits the generator")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	gcLimit := setGeneratorGC()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "hotline-load: -cpuprofile:", err)
			return 2
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	cfg := defaultBenchConfig(*quick)
	if *profile > 0 {
		cfg.SIPp.Profile = *profile
	}
	cfg.GoFigures, cfg.SIPpFigures = false, false
	for _, p := range strings.Split(*parts, ",") {
		switch strings.TrimSpace(p) {
		case "go":
			cfg.GoFigures = true
		case "sipp":
			cfg.SIPpFigures = true
		case "cluster":
			cfg.ClusterFigures = true
		case "xfer":
			cfg.XferFigures = true
		default:
			fmt.Fprintf(stderr, "hotline-load: -parts: unknown part %q (go, sipp, cluster, xfer)\n", p)
			return 2
		}
	}
	cfg.Overload = *overload
	if *readers != "" {
		if _, err := strconv.Atoi(*readers); err != nil {
			fmt.Fprintf(stderr, "hotline-load: -rtp-readers: %q is not a number\n", *readers)
			return 2
		}
	}
	cfg.RTPReaders = *readers
	switch *kernel {
	case "", "auto", "on", "off":
		cfg.RTPKernel = *kernel
	default:
		fmt.Fprintf(stderr, "hotline-load: -rtp-kernel: %q is not auto, on or off\n", *kernel)
		return 2
	}
	switch *hotlineLog {
	case "", "debug", "info", "warn", "error":
		cfg.HotlineLog = *hotlineLog
	default:
		fmt.Fprintf(stderr, "hotline-load: -hotline-log: %q is not debug, info, warn or error\n", *hotlineLog)
		return 2
	}
	for _, kv := range strings.Fields(*hotlineEnv) {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			fmt.Fprintf(stderr, "hotline-load: -hotline-env: %q is not NAME=VALUE\n", kv)
			return 2
		}
		cfg.HotlineEnv = append(cfg.HotlineEnv, kv)
	}
	cfg.OverloadCPS = *overloadCPS
	if *overloadStep < 0 || *overloadStep > 5*time.Minute {
		fmt.Fprintf(stderr, "hotline-load: -overload-step: %s is not between 0 and 5m\n", *overloadStep)
		return 2
	}
	cfg.OverloadStep = *overloadStep
	if *reps > 0 {
		cfg.Reps = *reps
	}
	if *noMinIO {
		cfg.MinIO = false
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if gcLimit > 0 {
		log.Info("load generator: garbage collection only at its memory limit (GOGC or GOMEMLIMIT override)", "limit_mib", gcLimit>>20)
	}
	// sipgo logs through the logger it is given and, in places, the
	// default one: keep both to errors.
	quiet := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	slog.SetDefault(quiet)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	work, err := os.MkdirTemp("", "hotline-bench-")
	if err != nil {
		fmt.Fprintln(stderr, "hotline-load:", err)
		return 1
	}
	pr := &procs{}
	defer func() {
		pr.stopAll()
		if *keepWork {
			log.Info("work directory kept (-keep-work): delete it when no run is measuring", "dir", work)
			return
		}
		_ = os.RemoveAll(work)
	}()
	absRepo, err := filepath.Abs(*repo)
	if err != nil {
		fmt.Fprintln(stderr, "hotline-load:", err)
		return 1
	}
	d := &driver{cfg: cfg, log: log, pr: pr, work: work, repo: absRepo,
		res: &results{Cfg: cfg}, deadline: time.Now().Add(cfg.totalBudget())}
	// totalBudget allows the routing benchmarks their timeout: on a
	// quiet machine they take 30-75 s and the run ends well before.
	// The budget bounds the measurements; stopping and writing the
	// report come after it.
	mctx, cancel := context.WithTimeout(ctx, cfg.totalBudget()+time.Minute)
	defer cancel()
	runErr := d.run(mctx)
	pr.stopAll()
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "hotline-load: interrupted; everything started was stopped, no report written")
		return 1
	}
	if runErr != nil {
		d.note("the run ended early: %v", runErr)
	}
	if d.res.Finished.IsZero() {
		d.res.Finished = time.Now()
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(stderr, "hotline-load:", err)
		return 1
	}
	base := d.res.Started.Format("2006-01-02") + "-" + d.res.Machine.Host
	if *name != "" {
		base += "-" + *name
	}
	path := filepath.Join(*out, base+".md")
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(stderr, "hotline-load:", err)
		return 1
	}
	d.res.writeReport(f)
	if err := f.Close(); err != nil {
		fmt.Fprintln(stderr, "hotline-load:", err)
		return 1
	}
	fmt.Fprintf(stdout, "report: %s\n", path)
	writeFigures(stdout, d.res.figures())
	if runErr != nil {
		fmt.Fprintln(stderr, "hotline-load:", runErr)
		return 1
	}
	return 0
}

// envFloat reads a number from the environment (0 when unset or not a
// number).
func envFloat(name string) float64 {
	v, err := strconv.ParseFloat(os.Getenv(name), 64)
	if err != nil {
		return 0
	}
	return v
}
