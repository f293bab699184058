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
	"os"
	"os/signal"
	"syscall"
	"time"

	"hotline/api"
	"hotline/deploy"
	"hotline/recording"
	"hotline/routing"
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
	app, err := start(ctx, c, log)
	if err != nil {
		log.Error("start failed", "error", err)
		return 1
	}
	<-ctx.Done()
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
	pool       *routing.Pool
	recordings *recording.Manager
	api        *api.Server
}

// start wires the packages together and starts serving. One call flows
// from sip (signalling, media) through routing (which agent) to recording.
func start(ctx context.Context, c *Config, log *slog.Logger) (*app, error) {
	recs, err := recording.New(c.Recording, log.With("component", "recording"))
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
	prompts, err := survey.LoadPrompts(promptsFS, c.Survey.Language)
	if err != nil {
		_ = recs.Close()
		return nil, err
	}
	pool := routing.NewPool(c.Agents, time.Now)
	srv, err := sip.New(c.SIP, sip.Deps{
		Log:        log,
		Routing:    &c.Config,
		Pool:       pool,
		Media:      &c.RTP,
		Now:        time.Now,
		Recordings: recs,
		Survey:     &c.Survey,
		Prompts:    prompts,
	})
	if err == nil {
		err = srv.Start(ctx)
	}
	if err != nil {
		_ = recs.Close()
		return nil, err
	}
	httpAPI := api.New(c.API, api.Deps{
		Log:        log.With("component", "api"),
		ListCalls:  func() any { return srv.Calls() },
		ListAgents: func() any { return pool.Agents() },
		Calls:      srv,
		Recordings: recs,
		IsNotFound: func(err error) bool { return errors.Is(err, sip.ErrNoSuchCall) },
		IsConflict: func(err error) bool { return errors.Is(err, sip.ErrNotRecorded) },
	})
	if err := httpAPI.Start(); err != nil {
		_ = srv.Shutdown(ctx)
		_ = recs.Close()
		return nil, err
	}
	log.Info("hotline ready", "hotlines", len(c.Hotlines), "agents", len(c.Agents),
		"recording_backend", c.Recording.Backend, "spool", c.Recording.SpoolDir)
	return &app{sip: srv, pool: pool, recordings: recs, api: httpAPI}, nil
}

// shutdown drains calls, then finishes recordings (what is not uploaded
// yet stays in the spool for the next start).
func (a *app) shutdown(ctx context.Context) error {
	err := a.sip.Shutdown(ctx)
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return errors.Join(err, a.api.Shutdown(actx), a.recordings.Close())
}
