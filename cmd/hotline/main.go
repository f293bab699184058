// Command hotline runs the Hotline call-management service: it loads the
// configuration and wires the packages together.
//
//	hotline [run] [-config FILE]     run the service
//	hotline check [-config FILE]     check the configuration (also hotline -check)
//	hotline version                  print the version (also hotline -version)
//	hotline passwd -user NAME [-realm REALM] [-algorithm MD5|SHA-256]
//	                                 print the digest HA1 of a SIP password read from stdin
//	hotline health [-url URL]        probe a running Hotline's /healthz
//	hotline migrate [-config FILE]   apply the records schema migrations (records.backend postgres)
//
// Without -config it runs the embedded deploy/hotline.example.yaml.
// SIGTERM or SIGINT drains: new calls get 503 with Retry-After, calls in
// progress finish (bounded by sip.drain_timeout), then it exits 0.
// SIGHUP, or the configuration file changing, reloads the hotline
// numbers, agents, queues, rules, schedules and customer directory
// without dropping a call (reload.go).
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
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"hotline/api"
	"hotline/api/wire"
	"hotline/audio"
	"hotline/callflow"
	"hotline/callflow/callmetrics"
	"hotline/deploy"
	"hotline/internal/gcpace"
	"hotline/metrics"
	"hotline/recording"
	"hotline/records"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/directory"
	"hotline/routing/rules"
	"hotline/sip"
	"hotline/survey"
)

func main() {
	if sip.IsDoorProcess() { // started by a Hotline as its door process
		os.Exit(sip.RunDoorProcess())
	}
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
  hotline migrate [-config FILE]   apply the records schema migrations to PostgreSQL
                                   (records.backend postgres) and exit
  hotline help                     this text

Without -config the embedded example configuration runs.
`

// commandNames are the words hotline takes first.
func commandNames() []string { return []string{"run", "check", "version", "passwd", "health", "help"} }

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
		case "migrate":
			return migrate(args[1:], io.err)
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
		if slices.Contains(commandNames(), fs.Arg(0)) {
			fmt.Fprintf(io.err, "hotline: unexpected argument %q: commands come before flags (hotline %s ...)\n", fs.Arg(0), fs.Arg(0))
		} else {
			fmt.Fprintf(io.err, "hotline: unexpected argument %q: not a command (%s; see hotline help)\n", fs.Arg(0), strings.Join(commandNames(), ", "))
		}
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
	pacer := gcpace.Start(c.Runtime.Headroom(), log)
	defer pacer.Stop()
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
	// The configuration file is reloaded on SIGHUP and when it changes
	// (the embedded example only has its customer directory reloaded).
	changed := make(chan struct{}, 1)
	if *path != "" {
		go watchConfig(ctx, *path, app.promptsDir, changed)
	}
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			waiting = false
		case <-hup:
			if *path != "" {
				log.Info("SIGHUP: reloading the configuration", "file", *path)
				app.reload(*path)
			} else if err := app.directory.Reload(); err != nil {
				log.Error("SIGHUP: customer directory not reloaded; keeping the previous one", "error", err)
			} else {
				log.Info("SIGHUP: customer directory reloaded", "customers", app.directory.Size())
			}
		case <-changed:
			log.Info("configuration file changed: reloading", "file", *path)
			app.reload(*path)
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
	callbacks  callbacks.Keeper
	records    *records.Store
	segments   *records.Segmenter
	// state saves registrations and agent states until stopState.
	state     *records.Keeper
	stopState context.CancelFunc
	stateDone chan struct{}
	router    *rules.Router
	log       *slog.Logger
	// cfg is the configuration in force (replaced by each good reload).
	cfg atomic.Pointer[Config]
	// draining is set when shutdown starts (GET /healthz answers 503).
	draining *atomic.Bool
	stopDir  context.CancelFunc
	// stopDialer stops the callback dialer; dialerDone is closed when it
	// has stopped (nil channel: no dialer).
	stopDialer context.CancelFunc
	dialerDone chan struct{}
	// cluster is the node's membership of a cluster; nil on one node.
	cluster *member
	// promptsDir is survey.prompts_dir at start ("": the embedded
	// prompts); promptsStamp identifies the files last loaded from it.
	promptsDir, promptsStamp string
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
	recs, err := recording.New(c.Recording, recording.Options{Log: log, Now: now}) // it adds component=recording itself
	if err != nil {
		return nil, err
	}
	// Recover what a crash left in the spool and start uploading; a
	// storage outage is reported in logs and the backlog, never fatal.
	if err := recs.Start(ctx); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	var promptsFS fs.FS = deploy.Prompts()
	var promptsStamp0 string
	if c.Survey.PromptsDir != "" {
		promptsStamp0 = promptsStamp(c.Survey.PromptsDir) // before loading: a write meanwhile is a change
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
	local, err := callbacks.OpenStore(c.Callbacks.File, now)
	if err != nil {
		_ = recs.Close()
		return nil, err
	}
	// The call history: written in batches, never in the call's way.
	history, err := records.Open(ctx, c.Records, records.Options{Log: log, Now: now})
	if err != nil {
		_ = recs.Close()
		return nil, err
	}
	// Re-segmentation by the customer's history (records.segment_rules);
	// the directory keeps the base segment.
	segments, err := records.NewSegmenter(ctx, history, c.Records.SegmentRules, log.With("component", "segments"))
	if err != nil {
		_ = recs.Close()
		_ = history.Close()
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			segments.Close()
			_ = history.Close()
		}
	}()
	// More than one node: join the cluster (Redis) first; refused when
	// Redis is unreachable or the shared configuration differs.
	mem, err := joinCluster(ctx, c, now, log)
	if err != nil {
		_ = recs.Close()
		return nil, err
	}
	// Callbacks: the node's file, or with a cluster the store every
	// node shares in Redis (the file's pending callbacks move there).
	// Every change of a callback is in the customer's history.
	var store callbacks.Keeper = local
	onChange := func(cb callbacks.Callback, change string) { history.Event(callbackEvent(now(), cb, change)) }
	if mem != nil {
		shared, err := mem.shareCallbacks(local, now, log)
		if err != nil {
			_ = mem.close(ctx)
			_ = recs.Close()
			return nil, err
		}
		shared.OnChange(onChange)
		store = shared
	} else {
		local.OnChange(onChange)
	}
	// Queues and agents: registering logs an agent in unless
	// queue.login_on_register is off (then feature codes or the API).
	acdOpts := acd.Options{Now: now, Logger: log.With("component", "acd"),
		LoginOnRegister: *c.Queue.LoginOnRegister, Callbacks: store, OnEvent: func(e acd.Event) { history.Event(queueEvent(e)) }}
	if mem != nil {
		acdOpts.Replication = mem.log // one ACD over every node
		// and no agent rings for two calls, even should replicas differ
		acdOpts.Guard = guard{node: mem.node, log: log.With("component", "cluster")}
		acdOpts.Ticker = mem.node.Ticker // one node ticks the shared clock
	}
	queues, err := acd.New(&c.Config, acdOpts)
	if err == nil && mem != nil {
		err = mem.run(ctx, queues, now, log)
	}
	if err != nil {
		_ = mem.close(ctx)
		_ = recs.Close()
		return nil, err
	}
	// Wrap-up codes, through the API or *25<key> from the phone.
	disposer := dispose(&c.Config, queues, m, log, now, history.Event)
	afterCall := &callflow.AfterCall{NoteCall: dir.NoteCall, Policy: policy, Store: store, Log: log}
	srv, err := sip.New(c.SIP, sip.Deps{
		Disposition: disposeByKey(&c.Config, disposer),
		Log:         log,
		Routes: &callflow.Routes{
			Config: &c.Config,
			Router: router,
			ACD:    queues,
			RequestCallback: func(cust directory.Customer, d rules.Decision) (callbacks.Callback, error) {
				return store.Add(policy.AfterHours(now(), cust, d))
			},
			Customers: segmentedLookup(dir, segments),
			SetStyle: func(number, style string) error {
				if err := dir.SetStyle(number, style); err != nil {
					return err
				}
				history.Event(records.Event{At: now(), Kind: records.EventStyleAnswer, Customer: number, Reason: style})
				return nil
			},
		},
		Media:      &c.RTP,
		Now:        now,
		Recordings: recs.Calls(),
		Survey:     callflow.NewPostCallSurvey(&c.Survey),
		Prompts:    prompts,
		Metrics:    m,
		// Calls are counted by call control; the SIP server counts
		// requests, responses and RTP.
		CallMetrics: callmetrics.New(m),
		// Several nodes: phones registered on other nodes are reached too.
		RemoteBindings:       mem.remoteBindings(log),
		PublishRegistrations: mem.publishRegistrations(log),
		// Overload control sheds new calls while recorders drop packets.
		RecorderDropped: func() uint64 { return recs.Backlog().DroppedPackets },
		// ... and while call records or recordings could not be kept.
		RecordsHeld: history.Held,
		SpoolFree:   spoolFree(recs, c.Recording.Policy),
		// The call's record and events go to the history; the customer's
		// history notes the call; a complaint or a low rating schedules a
		// follow-up callback.
		OnCallEnd: func(r callflow.Record) {
			rec := r.History()
			history.Call(rec)
			// The segment rules, once the follow-up below is planned.
			defer func() { segments.After(rec, callbacks.OpenComplaint(store.List(), rec.Customer)) }()
			for _, e := range r.HistoryEvents() {
				history.Event(e)
			}
			// The per-agent view: calls, talk time, ratings.
			if r.Agent != "" && r.Outcome == callflow.OutcomeAnswered {
				csat := 0
				if r.Survey.CSAT != nil {
					csat = *r.Survey.CSAT
				}
				m.AgentCallEnded(r.Agent, r.Talk+r.Hold, csat)
			}
			afterCall.CallEnded(r)
		},
	})
	if err == nil && mem != nil {
		// A reservation lost to another node's offer stops the ringing.
		mem.lost.set(srv.ReservationLost)
		// A request challenged by one node may be answered to another.
		var secret []byte
		if secret, err = mem.node.NonceSecret(ctx); err == nil {
			srv.Registrar().SetNonceSecret(secret)
		}
	}
	var keeper *records.Keeper
	if err == nil {
		// Registrations and agent states of the previous run, before
		// the first REGISTER can arrive; the bindings first, since a
		// login needs its phone registered.
		reg := srv.Registrar()
		// In a cluster each node keeps its own phones' bindings (the
		// nodes share the database): registrations@<node>, and a node
		// upgraded from one name for all finds its own under the old one
		// in its state directory.
		regs := records.Kept{Kind: "registrations", Snapshot: func() any { return reg.Save() }, Restore: records.RestoreList(reg.Restore),
			Generation: reg.Generation}
		if mem != nil {
			regs.Kind, regs.LocalFallback = records.NodeKind("registrations", c.Cluster.Node), "registrations"
		}
		keeper = records.NewKeeper(history, log.With("component", "state"), regs,
			records.Kept{Kind: "agents", Snapshot: func() any { return queues.SavedAgents() }, Restore: records.RestoreList(queues.RestoreAgents),
				Generation: queues.SavedGeneration})
		keeper.Restore(ctx)
		err = srv.Start(ctx)
	}
	if err != nil {
		_ = mem.close(ctx)
		_ = recs.Close()
		return nil, err
	}
	if mem != nil {
		mem.node.ShareRegistrations(srv.Registrar()) // any node reaches any phone
	}
	wireMetrics(m, c, srv, queues, recs, history, func(queue string) bool { return router.QueueOpen(queue, now()) })
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
		Log:              log.With("component", "api"),
		ListCalls:        func() []api.Call { return wire.List(srv.Calls(), wire.Call) },
		ListAgents:       func() []api.Agent { return wire.List(queues.Agents(), wire.Agent) },
		ListQueues:       func() []api.Queue { return wire.List(queues.Queues(), wire.Queue) },
		ListCallbacks:    func() []api.Callback { return wire.List(store.List(), wire.Callback) },
		AddCallback:      wire.AddCallback(store, queues, c.Callbacks.Queue),
		Agents:           queues,
		AgentError:       wire.AgentError,
		Calls:            callflow.RecordingControl{Call: srv.CallRecording},
		Monitors:         srv,
		Transfers:        srv,
		CallError:        wire.CallError,
		Recordings:       recs,
		PresignExpiry:    c.Recording.S3.PresignExpiry,
		Draining:         draining.Load,
		Now:              now,
		History:          history,
		Dispose:          disposer,
		ListDispositions: func() []api.DispositionCode { return dispositionCodes(&c.Config) },
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
		line, err := srv.CallbackLine()
		var dialer *callflow.Dialer
		if err == nil {
			dialer, err = callflow.NewDialer(callflow.DialerOptions{Line: line, Config: c.SIP.Outbound.DialerConfig(),
				Store: store, Window: callbacks.NewWindow(&c.Config, router), ACD: queues,
				Customers: segmentedLookup(dir, segments), Metrics: m, Log: log})
		}
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
	stateCtx, stopState := context.WithCancel(context.WithoutCancel(ctx))
	stateDone := make(chan struct{})
	go func() {
		defer close(stateDone)
		keeper.Run(stateCtx, time.Second)
	}()
	started = true
	a := &app{sip: srv, acd: queues, recordings: recs, api: httpAPI, metrics: m, metricsSrv: metricsSrv,
		directory: dir, callbacks: store, records: history, segments: segments, router: router, log: log, draining: draining, stopDir: stopDir,
		stopDialer: stopDialer, dialerDone: dialerDone, state: keeper, stopState: stopState, stateDone: stateDone, cluster: mem,
		promptsDir: c.Survey.PromptsDir, promptsStamp: promptsStamp0}
	a.cfg.Store(c)
	return a, nil
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
	a.stopState()
	<-a.stateDone
	a.state.Save(actx) // as the calls left them
	// After the calls: their records are written (or spooled) before exit.
	a.segments.Close() // its last changes go to the records
	return errors.Join(err, a.api.Shutdown(actx), a.recordings.Close(), a.records.Close(), a.metricsSrv.Shutdown(actx), a.cluster.close(actx))
}

// agentMetricStates are the ACD states exposed per queue (always, zero
// included), named as the API names them.
var agentMetricStates = []acd.AgentState{acd.StateLoggedOut, acd.StateAvailable, acd.StateRinging,
	acd.StateOnCall, acd.StateWrapUp, acd.StatePaused}

// wireMetrics gives the metrics their live sources: calls, agents, queues,
// RTP legs, the recording backlog and the call-records store.
// open says whether a queue's schedule is open now.
func wireMetrics(m *metrics.Metrics, c *Config, srv *sip.Server, acd *acd.ACD, recs *recording.Manager, history *records.Store, open func(queue string) bool) {
	m.SetActiveCallsSource(srv.ActiveCalls)
	m.SetRegistrationSource(func() int { return len(srv.Registrar().Registered()) })
	m.SetRTPSource(srv.RTPStats)
	m.SetRTPKernelSource(srv.RTPKernel)
	m.SetQueueSource(func() []metrics.QueueStatus {
		var out []metrics.QueueStatus
		for _, q := range acd.Queues() {
			out = append(out, metrics.QueueStatus{Queue: q.Name, Waiting: q.Waiting, LongestWait: q.LongestWait, Open: open(q.Name), Lost: q.Lost})
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
		for _, q := range acd.Queues() { // the queues in force (reloads included)
			for _, st := range agentMetricStates {
				k := [2]string{q.Name, wire.AgentState(st)}
				out = append(out, metrics.AgentCount{Queue: q.Name, State: k[1], Count: counts[k]})
			}
		}
		return out
	})
	m.SetAgentStateSource(func() []metrics.AgentStatus {
		ags := acd.Agents()
		out := make([]metrics.AgentStatus, len(ags))
		for i, a := range ags {
			out[i] = metrics.AgentStatus{Agent: a.Username, State: wire.AgentState(a.State)}
		}
		return out
	})
	m.SetQueueCallsSource(func() map[string]int {
		out := map[string]int{}
		for _, q := range acd.Queues() { // the queues in force (reloads included)
			out[q.Name] = 0
		}
		for _, call := range srv.Calls() {
			out[call.Queue]++
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
	m.SetRecordsSource(func() metrics.Records {
		st := history.Stats()
		return metrics.Records{Written: st.Written, Spooled: st.Spooled, SpoolBatches: st.SpoolFiles, BackendDown: st.Down, Held: st.Held}
	})
}

// spoolFree reads the free space on the recording spool's file system for
// overload control; nil when the policy records no call.
func spoolFree(recs *recording.Manager, p recording.Policy) func() (uint64, bool) {
	if p.None() {
		return nil
	}
	return func() (uint64, bool) {
		free, _, err := recs.SpoolDisk()
		return free, err == nil
	}
}
