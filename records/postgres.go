package records

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgBackend stores records in PostgreSQL. The schema is brought up to
// date before the first write (at Open when the server is reachable).
type pgBackend struct {
	pool     *pgxpool.Pool
	cfg      PostgresConfig
	log      *slog.Logger
	mu       sync.Mutex
	schemaOK bool
}

func openPostgres(ctx context.Context, c PostgresConfig, log *slog.Logger) (*pgBackend, error) {
	pc, err := pgxpool.ParseConfig(c.DSN)
	if err != nil {
		// The DSN may hold a password: name the field, not the value.
		return nil, fmt.Errorf("records: postgres.dsn: not a valid connection string")
	}
	pc.MaxConns = c.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("records: postgres: %w", err)
	}
	b := &pgBackend{pool: pool, cfg: c, log: log}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := b.ensureSchema(sctx); err != nil {
		if isSQLError(err) || errors.Is(err, errOldSchema) {
			pool.Close()
			return nil, err
		}
		log.Warn("PostgreSQL unreachable at start: records are spooled until it is back", "error", err)
	}
	return b, nil
}

var errOldSchema = errors.New("records: the database schema is older than this Hotline's and records.postgres.migrate is false: run `hotline migrate`")

// isSQLError tells a statement the server refused from a connection
// failure.
func isSQLError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe)
}

// ensureSchema applies pending migrations (or, with migrate: false,
// checks there are none) once per backend.
func (b *pgBackend) ensureSchema(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.schemaOK {
		return nil
	}
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if *b.cfg.Migrate {
		applied, err := MigrateTo(ctx, conn.Conn(), 0)
		if err != nil {
			return err
		}
		if len(applied) > 0 {
			b.log.Info("records schema migrated", "applied", applied, "version", LatestVersion())
		}
	} else {
		v, err := SchemaVersion(ctx, conn.Conn())
		if err != nil {
			return err
		}
		if v < LatestVersion() {
			return errOldSchema
		}
	}
	b.schemaOK = true
	return nil
}

const insertCall = `INSERT INTO calls (call_id, direction, hotline, queue, customer, customer_id, segment, style, reason, agent,
	arrived, queued, connected, survey_start, ended, wait_seconds, answer_seconds, talk_seconds, hold_seconds, wrap_up_seconds,
	outcome, cause, csat, nps, recording, callback, legs, transfers)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)
	ON CONFLICT (call_id) DO NOTHING`

const insertEvent = `INSERT INTO events (event_id, at, kind, call_id, agent, queue, customer, position, duration_seconds, reason, detail)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
	ON CONFLICT (event_id) DO NOTHING`

// jsonArg is raw JSON as a query argument (NULL when empty).
func jsonArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

func (b *pgBackend) write(ctx context.Context, batch *Batch) error {
	if err := b.ensureSchema(ctx); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var q pgx.Batch
		for i := range batch.Calls {
			c := &batch.Calls[i]
			q.Queue(insertCall, c.CallID, c.Direction, c.Hotline, c.Queue, c.Customer, c.CustomerID, c.Segment, c.Style, c.Reason, c.Agent,
				c.Arrived, c.Queued, c.Connected, c.SurveyStart, c.Ended, c.Wait, c.Answer, c.Talk, c.Hold, c.WrapUp,
				c.Outcome, c.Cause, c.CSAT, c.NPS, c.Recording, c.Callback, jsonArg(c.Legs), jsonArg(c.Transfers))
		}
		for i := range batch.Events {
			e := &batch.Events[i]
			q.Queue(insertEvent, e.ID, e.At, e.Kind, e.CallID, e.Agent, e.Queue, e.Customer, e.Position, e.Duration, e.Reason, jsonArg(e.Detail))
		}
		return tx.SendBatch(ctx, &q).Close()
	})
}

// where builds a WHERE clause of bound parameters.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
}

func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col+" = ?", v)
	}
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

const callColumns = `call_id, direction, hotline, queue, customer, customer_id, segment, style, reason, agent,
	arrived, queued, connected, survey_start, ended, wait_seconds, answer_seconds, talk_seconds, hold_seconds, wrap_up_seconds,
	outcome, cause, csat, nps, recording, callback, legs, transfers`

func (b *pgBackend) calls(ctx context.Context, q CallQuery) ([]Call, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.QueryTimeout)
	defer cancel()
	var w where
	if !q.From.IsZero() {
		w.add("arrived >= ?", q.From)
	}
	if !q.To.IsZero() {
		w.add("arrived < ?", q.To)
	}
	w.eq("agent", q.Agent)
	w.eq("customer", q.Customer)
	w.eq("queue", q.Queue)
	w.eq("segment", q.Segment)
	w.eq("outcome", q.Outcome)
	if q.CSATMax > 0 {
		w.add("csat <= ?", q.CSATMax)
	}
	if q.After != nil {
		w.add("(arrived, call_id) < (?, ?)", q.After.At, q.After.ID)
	}
	w.args = append(w.args, q.Limit+1)
	sql := "SELECT " + callColumns + " FROM calls" + w.sql() + " ORDER BY arrived DESC, call_id DESC LIMIT $" + strconv.Itoa(len(w.args))
	rows, err := b.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return nil, fmt.Errorf("records: history: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Call, error) {
		var c Call
		var csat, nps *int16
		var legs, transfers []byte
		err := r.Scan(&c.CallID, &c.Direction, &c.Hotline, &c.Queue, &c.Customer, &c.CustomerID, &c.Segment, &c.Style, &c.Reason, &c.Agent,
			&c.Arrived, &c.Queued, &c.Connected, &c.SurveyStart, &c.Ended, &c.Wait, &c.Answer, &c.Talk, &c.Hold, &c.WrapUp,
			&c.Outcome, &c.Cause, &csat, &nps, &c.Recording, &c.Callback, &legs, &transfers)
		c.CSAT, c.NPS = intPtr(csat), intPtr(nps)
		c.Legs, c.Transfers = legs, transfers
		c.Arrived, c.Ended = c.Arrived.UTC(), c.Ended.UTC()
		for _, p := range []*time.Time{c.Queued, c.Connected, c.SurveyStart} {
			if p != nil {
				*p = p.UTC()
			}
		}
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("records: history: %w", err)
	}
	return out, nil
}

func intPtr(v *int16) *int {
	if v == nil {
		return nil
	}
	n := int(*v)
	return &n
}

func (b *pgBackend) events(ctx context.Context, q EventQuery) ([]Event, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.QueryTimeout)
	defer cancel()
	var w where
	if !q.From.IsZero() {
		w.add("at >= ?", q.From)
	}
	if !q.To.IsZero() {
		w.add("at < ?", q.To)
	}
	w.eq("agent", q.Agent)
	w.eq("customer", q.Customer)
	w.eq("call_id", q.CallID)
	w.eq("kind", q.Kind)
	if q.After != nil {
		w.add("(at, event_id) < (?, ?)", q.After.At, q.After.ID)
	}
	w.args = append(w.args, q.Limit+1)
	sql := `SELECT event_id, at, kind, call_id, agent, queue, customer, position, duration_seconds, reason, detail FROM events` +
		w.sql() + " ORDER BY at DESC, event_id DESC LIMIT $" + strconv.Itoa(len(w.args))
	rows, err := b.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return nil, fmt.Errorf("records: events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var detail []byte
		err := r.Scan(&e.ID, &e.At, &e.Kind, &e.CallID, &e.Agent, &e.Queue, &e.Customer, &e.Position, &e.Duration, &e.Reason, &detail)
		e.Detail, e.At = detail, e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("records: events: %w", err)
	}
	return out, nil
}

func (b *pgBackend) close() error {
	b.pool.Close()
	return nil
}
