package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"hotline/records"
	"hotline/sip"
)

// callRecord is a finished call as the history keeps it.
func callRecord(r sip.CallRecord) records.Call {
	c := records.Call{
		CallID: r.CallID, Direction: r.Direction, Hotline: r.Hotline,
		Customer: r.Customer.Number, CustomerID: r.Customer.ID, Segment: r.Customer.Segment, Style: r.Customer.Style,
		Reason: r.Reason, Agent: r.Agent,
		Arrived: r.Arrived, Queued: records.TimePtr(r.Queued), Connected: records.TimePtr(r.Bridged), Ended: r.Ended,
		Wait: records.Seconds(r.Wait), Talk: records.Seconds(r.Talk),
		Outcome: r.Outcome, Cause: r.Cause, CSAT: r.Survey.CSAT, NPS: r.Survey.NPS,
		Recording: r.Recording, Callback: r.Callback,
	}
	if c.Customer == "" {
		c.Customer = r.Caller
	}
	if !r.Bridged.IsZero() {
		c.Answer = records.Seconds(r.Bridged.Sub(r.Arrived))
	}
	return c
}

// migrate is `hotline migrate [-config FILE]`: it applies the pending
// records migrations to the configured PostgreSQL and exits.
func migrate(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("hotline migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (default: the embedded deploy/hotline.example.yaml)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "hotline: configuration error:\n%v\n", err)
		return 2
	}
	if c.Records.Backend != records.BackendPostgres {
		fmt.Fprintf(stderr, "hotline migrate: records.backend is %q: only the postgres backend has a schema to migrate\n", c.Records.Backend)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	applied, err := records.Migrate(ctx, c.Records.Postgres.DSN)
	if err != nil {
		fmt.Fprintf(stderr, "hotline migrate: %v\n", err)
		return 1
	}
	if len(applied) == 0 {
		fmt.Fprintf(stderr, "hotline migrate: schema already at version %d\n", records.LatestVersion())
	} else {
		fmt.Fprintf(stderr, "hotline migrate: applied %v, schema at version %d\n", applied, records.LatestVersion())
	}
	return 0
}
