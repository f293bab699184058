package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"hotline/records"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/directory"
)

// queueEvent is an ACD event as the history keeps it.
func queueEvent(e acd.Event) records.Event {
	return records.Event{At: e.At, Kind: e.Kind, CallID: e.CallID, Queue: e.Queue, Agent: e.Agent, Customer: e.Caller,
		Position: e.Position, Duration: records.Seconds(e.Duration), Reason: e.Reason}
}

// callbackEvent is a change of a callback as the history keeps it
// (Reason: what happened; Detail: the callback's id, kind, status,
// attempts, due time and last result).
func callbackEvent(at time.Time, cb callbacks.Callback, change string) records.Event {
	detail, _ := json.Marshal(map[string]any{"id": cb.ID, "kind": cb.Kind, "status": cb.Status, "queue": cb.Queue,
		"attempts": cb.Attempts, "due": cb.Due, "result": cb.LastResult, "reason": cb.Reason})
	return records.Event{At: at, Kind: records.EventCallback, CallID: cb.LastCallID, Queue: cb.Queue,
		Customer: cb.Number, Reason: change, Detail: detail}
}

// segmentedLookup is the directory's lookup with the segment the
// history's rules set, when one does.
func segmentedLookup(dir *directory.Directory, seg *records.Segmenter) func(context.Context, string) directory.Customer {
	return func(ctx context.Context, callerID string) directory.Customer {
		c := dir.Lookup(ctx, callerID)
		if o, ok := seg.Segment(c.Number); ok && c.Number != "" {
			c.Segment = o.Segment
		}
		return c
	}
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
	applied, err := records.MigrateConfig(ctx, c.Records.Postgres)
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
