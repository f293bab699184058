// Command hotline runs the Hotline call-management service: it loads the
// configuration and wires the packages together.
//
//	hotline [run] [-config FILE]     run the service
//	hotline check [-config FILE]     check the configuration (also hotline -check)
//	hotline version                  print the version (also hotline -version)
//	hotline passwd -user NAME [-realm REALM] [-algorithm MD5|SHA-256]
//	                                 print the digest HA1 of a SIP password read from stdin
//	hotline health [-url URL]        probe a running Hotline's /healthz
//
// Without -config it runs the embedded deploy/hotline.example.yaml.
// SIGTERM or SIGINT drains: new calls get 503 with Retry-After, calls in
// progress finish (bounded by sip.drain_timeout), then it exits 0.
// SIGHUP reloads the customer directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"hotline/api"
	"hotline/api/wire"
	"hotline/audio"
	"hotline/callflow"
	"hotline/deploy"
	"hotline/metrics"
	"hotline/recording"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"hotline/sip"
	"hotline/survey"
)

func main() {
	os.Exit(run(os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}))
}

// stdio are a command's standard streams.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// Exit codes: 0 done, 1 failed while running, 2 bad command line or
// configuration.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

const usage = `Usage:
  hotline [run] [-config FILE]     run the service
  hotline check [-config FILE]     check the configuration and exit (also: hotline -check)
  hotline version                  print the version and exit (also: hotline -version)
  hotline passwd -user NAME [-realm REALM] [-algorithm MD5|SHA-256]
                                   read a SIP password from standard input and print
                                   its digest HA1, for agents[].ha1 / ha1_sha256
  hotline health [-url URL]        exit 0 when a running Hotline's /healthz answers 200
                                   (container health checks)
  hotline help                     this text

Without -config the embedded example configuration runs.
`

// run is main without the exit, so tests can call it.
func run(args []string, io stdio) int {
	if len(args) > 0 {
		switch args[0] {
		case "run":
			return runService(args[1:], io, false)
		case "check":
			return runService(args[1:], io, true)
		case "version":
			if len(args) > 1 {
				fmt.Fprintf(io.err, "hotline version: unexpected argument %q\n", args[1])
				return exitUsage
			}
			printVersion(io.out)
			return exitOK
		case "passwd":
			return runPasswd(args[1:], io)
		case "health":
			return runHealth(args[1:], io)
		case "help", "-h", "-help", "--help":
			fmt.Fprint(io.out, usage)
			return exitOK
		}
	}
	return runService(args, io, false)
}

// runService checks the configuration, then (unless checkOnly) runs.
func runService(args []string, io stdio, checkOnly bool) int {
	fs := flag.NewFlagSet("hotline", flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage+"\nFlags:\n"); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (default: the embedded deploy/hotline.example.yaml)")
	check := fs.Bool("check", false, "only check the configuration and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(io.out)
			fs.Usage()
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "hotline: unexpected argument %q (commands come first, e.g. \"hotline %s\"; see hotline help)\n", fs.Arg(0), fs.Arg(0))
		return exitUsage
	}
	if *showVersion {
		printVersion(io.out)
		return exitOK
	}
	c, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(io.err, "hotline: configuration error:\n%v\n", err)
		return exitUsage
	}
	if *check || checkOnly {
		fmt.Fprintln(io.err, "hotline: configuration OK")
		return exitOK
	}
	log := c.Log.logger(io.err)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	app, err := start(ctx, c, log, time.Now)
	if err != nil {
		log.Error("start failed", "error", err)
		return exitFailed
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			waiting = false
		case <-hup:
			if err := app.directory.Reload(); err != nil {
				log.Error("SIGHUP: customer directory not reloaded; keeping the previous one", "error", err)
			} else {
				log.Info("SIGHUP: customer directory reloaded", "customers", app.directory.Size())
			}
		}
	}
	stop()
	log.Info("shutting down")
	if err := app.shutdown(context.Background()); err != nil {
		log.Error("shutdown", "error", err)
		return exitFailed
	}
	return exitOK
}

// app is a running Hotline.
type app struct {
	sip        *sip.Server
	acd        *acd.ACD
	recordings *recording.Manager
	api        *api.Server
	metrics    *metrics.Metrics
	metricsSrv *metrics.Server
	directory  *directory.Directory
	callbacks  *callbacks.Store
	// draining is set when shutdown starts (GET /healthz answers 503).
	draining *atomic.Bool
	stopDir  context.CancelFunc
	// stopDialer stops the callback dialer; dialerDone is closed when it
	// has stopped (nil channel: no dialer).
	stopDialer context.CancelFunc
	dialerDone chan struct{}
}

// start wires the packages together and starts serving. One call flows
// from sip (signalling, media) through routing (which agent) to recording.
// now is the clock (time.Now; tests may shift it to simulate hours of the
// day).
func start(ctx context.Context, c *Config, log *slog.Logger, now func() time.Time) (*app, error) {
	loc, err := c.Metrics.Location()
	if err != nil {
		return nil, err
	}
	m := metrics.New(metrics.Options{Location: loc, Now: now, Version: buildVersion().version, Log: log.With("component", "metrics")})
	recs, err := recording.New(c.Recording, log) // it adds component=recording itself
	if err != nil {
		return nil, err
	}
	// Recover what a crash left in the spool and start uploading; a
	// storage outage is reported in logs and the backlog, never fatal.
	if err := recs.Start(ctx); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	var promptsFS fs.FS = deploy.Prompts()
	if c.Survey.PromptsDir != "" {
		promptsFS = os.DirFS(c.Survey.PromptsDir)
	}
	prompts, err := audio.LoadPrompts(promptsFS)
	if err == nil {
		err = survey.CheckPrompts(prompts, c.Survey.Language)
	}
	if err != nil {
		_ = recs.Close()
		return nil, err
	}
	// Who is calling: the customer directory (file and optional CRM).
	dir, err := directory.New(c.Directory, directory.Options{Now: now, Logger: log.With("component", "directory"),
		OnCRMError: func(err error) {
			if errors.Is(err, context.DeadlineExceeded) {
				m.CRMLookupFailed(metrics.CRMTimeout)
			} else {
				m.CRMLookupFailed(metrics.CRMError)
			}
		}})
	if err != nil {
		_ = recs.Close()
		return nil, err
	}
	router, err := rules.NewRouter(&c.Config)
	if err != nil {
		_ = recs.Close()
		return nil, err
	}
	policy := callbacks.NewPolicy(&c.Config, router)
	store, err := callbacks.OpenStore(c.Callbacks.File, now)
	if err != nil {
		_ = recs.Close()
		return nil, err
	}
	// Queues and agents: registering logs an agent in unless
	// queue.login_on_register is off (then feature codes or the API).
	queues, err := acd.New(&c.Config, acd.Options{Now: now, Logger: log.With("component", "acd"),
		LoginOnRegister: *c.Queue.LoginOnRegister, Callbacks: store})
	if err != nil {
		_ = recs.Close()
		return nil, err
	}
	srv, err := sip.New(c.SIP, sip.Deps{
		Log:     log,
		Routing: &c.Config,
		Router:  router,
		ACD:     queues,
		RequestCallback: func(cust directory.Customer, d rules.Decision) (callbacks.Callback, error) {
			return store.Add(policy.AfterHours(now(), cust, d))
		},
		Media:      &c.RTP,
		Now:        now,
		Recordings: recs,
		Survey:     &c.Survey,
		Prompts:    prompts,
		Metrics:    m,
		Customers:  dir.Lookup,
		SetStyle:   dir.SetStyle,
		// The customer's history notes the call; a complaint or a low
		// rating schedules a follow-up callback.
		OnCallEnd: (&callflow.AfterCall{NoteCall: dir.NoteCall, Policy: policy, Store: store, Log: log}).CallEnded,
	})
	if err == nil {
		err = srv.Start(ctx)
	}
	if err != nil {
		_ = recs.Close()
		return nil, err
	}
	wireMetrics(m, c, srv, queues, recs, func(queue string) bool { return router.QueueOpen(queue, now()) })
	srv.Registrar().OnChange(func(_ string, registered bool) {
		if registered {
			m.AgentLogin()
		} else {
			m.AgentLogout()
		}
	})
	metricsSrv := metrics.NewServer(c.Metrics, m, log.With("component", "metrics"))
	if err := metricsSrv.Start(); err != nil {
		_ = srv.Shutdown(ctx)
		_ = recs.Close()
		return nil, err
	}
	draining := &atomic.Bool{}
	httpAPI := api.New(c.API, api.Deps{
		Log:           log.With("component", "api"),
		ListCalls:     func() []api.Call { return wire.List(srv.Calls(), wire.Call) },
		ListAgents:    func() []api.Agent { return wire.List(queues.Agents(), wire.Agent) },
		ListQueues:    func() []api.Queue { return wire.List(queues.Queues(), wire.Queue) },
		ListCallbacks: func() []api.Callback { return wire.List(store.List(), wire.Callback) },
		Agents:        queues,
		AgentError:    wire.AgentError,
		Calls:         srv,
		Monitors:      srv,
		CallError:     wire.CallError,
		Recordings:    recs,
		PresignExpiry: c.Recording.S3.PresignExpiry,
		Draining:      draining.Load,
		Now:           now,
		Agent: func(id string) (api.Agent, bool) {
			ag, ok := queues.Agent(id)
			return wire.Agent(ag), ok
		},
	})
	if err := httpAPI.Start(); err != nil {
		_ = srv.Shutdown(ctx)
		_ = metricsSrv.Shutdown(ctx)
		_ = recs.Close()
		return nil, err
	}
	// Callbacks are dialled (agent first, then the customer through
	// sip.outbound.gateway) only with a gateway configured.
	dialCtx, stopDialer := context.WithCancel(ctx)
	var dialerDone chan struct{}
	if c.SIP.Outbound.Enabled() {
		dialer, err := srv.NewDialer(sip.DialerOptions{Store: store, Window: callbacks.NewWindow(&c.Config, router)})
		if err != nil {
			stopDialer()
			_ = srv.Shutdown(ctx)
			_ = metricsSrv.Shutdown(ctx)
			_ = httpAPI.Shutdown(ctx)
			_ = recs.Close()
			return nil, err
		}
		dialerDone = make(chan struct{})
		go func() {
			defer close(dialerDone)
			dialer.Run(dialCtx)
		}()
	}
	log.Info("hotline ready", "hotlines", len(c.Hotlines), "agents", len(c.Agents),
		"recording_backend", c.Recording.Backend, "spool", c.Recording.SpoolDir, "callback_dialer", c.SIP.Outbound.Enabled())
	dirCtx, stopDir := context.WithCancel(context.WithoutCancel(ctx))
	go dir.Watch(dirCtx)
	return &app{sip: srv, acd: queues, recordings: recs, api: httpAPI, metrics: m, metricsSrv: metricsSrv,
		directory: dir, callbacks: store, draining: draining, stopDir: stopDir, stopDialer: stopDialer, dialerDone: dialerDone}, nil
}

// shutdown drains calls, then finishes recordings (what is not uploaded
// yet stays in the spool for the next start).
func (a *app) shutdown(ctx context.Context) error {
	defer a.stopDir()
	a.draining.Store(true)
	// No callback is started any more; those waiting for an agent are
	// released, those with an agent are drained with the calls.
	a.stopDialer()
	err := a.sip.Shutdown(ctx)
	if a.dialerDone != nil {
		<-a.dialerDone
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return errors.Join(err, a.api.Shutdown(actx), a.recordings.Close(), a.metricsSrv.Shutdown(actx))
}

// agentMetricStates are the ACD states exposed per queue (always, zero
// included), named as the API names them.
var agentMetricStates = []acd.AgentState{acd.StateLoggedOut, acd.StateAvailable, acd.StateRinging,
	acd.StateOnCall, acd.StateWrapUp, acd.StatePaused}

// wireMetrics gives the metrics their live sources: calls, agents, queues,
// RTP legs and the recording backlog.
// open says whether a queue's schedule is open now.
func wireMetrics(m *metrics.Metrics, c *Config, srv *sip.Server, acd *acd.ACD, recs *recording.Manager, open func(queue string) bool) {
	m.SetActiveCallsSource(srv.ActiveCalls)
	m.SetRegistrationSource(func() int { return len(srv.Registrar().Registered()) })
	m.SetRTPSource(srv.RTPStats)
	m.SetQueueSource(func() []metrics.QueueStatus {
		var out []metrics.QueueStatus
		for _, q := range acd.Queues() {
			out = append(out, metrics.QueueStatus{Queue: q.Name, Waiting: q.Waiting, LongestWait: q.LongestWait, Open: open(q.Name)})
		}
		return out
	})
	// Agents by state in every queue they answer.
	m.SetAgentSource(func() []metrics.AgentCount {
		counts := map[[2]string]int{}
		for _, a := range acd.Agents() {
			for _, q := range a.Queues {
				counts[[2]string{q, wire.AgentState(a.State)}]++
			}
		}
		var out []metrics.AgentCount
		for _, q := range c.Queues {
			for _, st := range agentMetricStates {
				k := [2]string{q.Name, wire.AgentState(st)}
				out = append(out, metrics.AgentCount{Queue: q.Name, State: k[1], Count: counts[k]})
			}
		}
		return out
	})
	recs.OnUpload(m.RecordingUploaded)
	m.SetBacklogSource(func() metrics.Backlog {
		b := recs.Backlog()
		free, size, _ := recs.SpoolDisk() // unknown: 0, not exposed
		return metrics.Backlog{Files: b.Files, Bytes: b.Bytes, OldestAge: b.OldestAge, Recording: b.Recording,
			Failures: b.Failures, Uploaded: b.Uploaded, Dropped: b.DroppedPackets, SpoolFree: free, SpoolSize: size}
	})
}
