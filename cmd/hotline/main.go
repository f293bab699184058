// Command hotline runs the Hotline call-management service: it loads the
// configuration and wires the packages together.
//
//	hotline [-config FILE] [-check]
//
// Without -config it runs the embedded deploy/hotline.example.yaml.
// SIGTERM or SIGINT drains: new calls get 503 with Retry-After, calls in
// progress finish (bounded by sip.drain_timeout), then it exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"hotline/api"
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
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is main without the exit, so tests can call it.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("hotline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (default: the embedded deploy/hotline.example.yaml)")
	check := fs.Bool("check", false, "only check the configuration and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "hotline: configuration error:\n%v\n", err)
		return 2
	}
	if *check {
		fmt.Fprintln(stderr, "hotline: configuration OK")
		return 0
	}
	log := c.Log.logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	app, err := start(ctx, c, log, time.Now)
	if err != nil {
		log.Error("start failed", "error", err)
		return 1
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
		return 1
	}
	return 0
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
	stopDir    context.CancelFunc
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
	m := metrics.New(metrics.Options{Location: loc, Now: now, Version: version, Log: log.With("component", "metrics")})
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
		// A complaint or a low rating schedules a follow-up callback
		// (next business day by default, never in quiet hours).
		OnCallEnd: func(r callflow.Record) {
			csat := 0
			if r.Survey.CSAT != nil {
				csat = *r.Survey.CSAT
			}
			// The customer's history: one more call, who took it, the rating.
			if r.Caller != "" {
				if err := dir.NoteCall(r.Caller, r.Agent, csat, r.Ended); err != nil && !errors.Is(err, directory.ErrNoNumber) {
					log.Warn("customer history not updated", "call_id", r.CallID, "error", err)
				}
			}
			// A complaint (reason menu) an agent handled or a low rating
			// is followed up; a callback is not.
			cb, ok := policy.FollowUp(callbacks.Ended{At: r.Ended, Customer: r.Customer, Reason: r.Reason,
				Answered: r.Outcome == callflow.OutcomeAnswered, Callback: r.Direction == callflow.DirectionCallback, CSAT: csat})
			if !ok {
				return
			}
			cb, err := store.Add(cb)
			if err != nil {
				log.Error("follow-up callback not stored", "call_id", r.CallID, "error", err)
				return
			}
			log.Info("follow-up callback scheduled", "call_id", r.CallID, "callback", cb.ID, "due", cb.Due, "reason", cb.Reason)
		},
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
	httpAPI := api.New(c.API, api.Deps{
		Log:           log.With("component", "api"),
		ListCalls:     func() any { return srv.Calls() },
		ListAgents:    func() any { return queues.Agents() },
		ListQueues:    func() any { return queues.Queues() },
		ListCallbacks: func() any { return store.List() },
		Agents:        queues,
		AgentError:    agentErrorStatus,
		Calls:         srv,
		Recordings:    recs,
		PresignExpiry: c.Recording.S3.PresignExpiry,
		Now:           now,
		IsNotFound:    func(err error) bool { return errors.Is(err, sip.ErrNoSuchCall) },
		IsConflict:    func(err error) bool { return errors.Is(err, sip.ErrNotRecorded) },
		Agent: func(id string) (any, bool) {
			if ag, ok := queues.Agent(id); ok {
				return ag, true
			}
			return nil, false
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
		directory: dir, callbacks: store, stopDir: stopDir, stopDialer: stopDialer, dialerDone: dialerDone}, nil
}

// shutdown drains calls, then finishes recordings (what is not uploaded
// yet stays in the spool for the next start).
func (a *app) shutdown(ctx context.Context) error {
	defer a.stopDir()
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

// version is the build's version, set with -ldflags "-X main.version=...".
var version = "dev"

// agentErrorStatus is the HTTP status of an ACD error on an agent action.
func agentErrorStatus(err error) int {
	if errors.Is(err, acd.ErrUnknownAgent) {
		return http.StatusNotFound
	}
	return http.StatusConflict // not registered, not logged in
}

// agentMetricStates are the ACD states exposed per queue (always, zero
// included); logged_out is exposed as "offline", the metrics' name for an
// agent taking no calls.
var agentMetricStates = []acd.AgentState{acd.StateLoggedOut, acd.StateAvailable, acd.StateRinging,
	acd.StateOnCall, acd.StateWrapUp, acd.StatePaused}

func metricState(st acd.AgentState) string {
	if st == acd.StateLoggedOut {
		return "offline"
	}
	return string(st)
}

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
				counts[[2]string{q, metricState(a.State)}]++
			}
		}
		var out []metrics.AgentCount
		for _, q := range c.Queues {
			for _, st := range agentMetricStates {
				k := [2]string{q.Name, metricState(st)}
				out = append(out, metrics.AgentCount{Queue: q.Name, State: k[1], Count: counts[k]})
			}
		}
		return out
	})
	recs.OnUpload(m.RecordingUploaded)
	m.SetBacklogSource(func() metrics.Backlog {
		b := recs.Backlog()
		return metrics.Backlog{Files: b.Files, Bytes: b.Bytes, OldestAge: b.OldestAge, Recording: b.Recording,
			Failures: b.Failures, Uploaded: b.Uploaded, Dropped: b.DroppedPackets}
	})
}
