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
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"hotline/routing"
	"hotline/sip"
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
	sip  *sip.Server
	pool *routing.Pool
}

// start wires the packages together and starts serving.
func start(ctx context.Context, c *Config, log *slog.Logger) (*app, error) {
	pool := routing.NewPool(c.Agents, time.Now)
	srv, err := sip.New(c.SIP, sip.Deps{
		Log:     log,
		Routing: &c.Config,
		Pool:    pool,
		Media:   &c.RTP,
		Now:     time.Now,
	})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	log.Info("hotline ready", "hotlines", len(c.Hotlines), "agents", len(c.Agents))
	return &app{sip: srv, pool: pool}, nil
}

func (a *app) shutdown(ctx context.Context) error {
	return errors.Join(a.sip.Shutdown(ctx))
}
