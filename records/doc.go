// Package records keeps what happened on the hotline: one record per call
// and queue/agent events in the manner of Asterisk's queue_log (entered
// queue, offered, rang-no-answer, connected, abandoned, completed, callback
// requested, logged in/out, paused, unpaused, wrap-up), survey answers,
// callback state changes and customer history (style answers, segment
// changes).
//
// The call path hands records to a Store (Store.Call, Store.Event), which
// never blocks it: records are buffered and written in batches by one
// goroutine. A batch the backend refuses (PostgreSQL down, disk full) goes
// to a local spool directory and is replayed when the backend is back.
// Every record has an id (the call id, or an event id given before it is
// buffered), and every backend ignores a record whose id it already has,
// so a replayed batch is stored exactly once.
//
// Two backends share one schema (Call, Event):
//
//   - "file" (the default, no server): JSON lines, one file per UTC day,
//     <records.file.dir>/YYYY-MM-DD.jsonl;
//   - "postgres": PostgreSQL through pgx, schema created and upgraded by
//     the versioned migrations embedded from migrations/ (Migrate), which
//     also define the report views.
//
// Both answer the history queries (Calls, Events) with keyset cursors;
// filter values are always bound as parameters.
package records
