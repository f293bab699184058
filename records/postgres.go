package records

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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
	if err := c.password(pc.ConnConfig); err != nil {
		return nil, err
	}
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

// password sets cc's password from PasswordFile, when configured.
func (c *PostgresConfig) password(cc *pgx.ConnConfig) error {
	if c.PasswordFile == "" {
		return nil
	}
	pw, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return fmt.Errorf("records: postgres.password_file: %w", err)
	}
	cc.Password = strings.TrimSpace(string(pw))
	return nil
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

// Each batch is two statements whatever its size: the rows go as arrays
// (one per column, binary encoded) and unnest() turns them back into
// rows; a row whose id is already stored is skipped.
const insertCalls = `INSERT INTO calls (call_id, direction, hotline, queue, customer, customer_id, segment, style, reason, agent,
	arrived, queued, connected, survey_start, ended, wait_seconds, answer_seconds, talk_seconds, hold_seconds, wrap_up_seconds,
	outcome, cause, csat, nps, recording, callback, legs, transfers, monitors)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
		$11::timestamptz[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::timestamptz[],
		$16::float8[], $17::float8[], $18::float8[], $19::float8[], $20::float8[],
		$21::text[], $22::text[], $23::smallint[], $24::smallint[], $25::text[], $26::text[], $27::jsonb[], $28::jsonb[], $29::jsonb[])
	ON CONFLICT (call_id) DO NOTHING`

const insertEvents = `INSERT INTO events (event_id, at, kind, call_id, agent, queue, customer, position, duration_seconds, reason, detail)
	SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::int[], $9::float8[], $10::text[], $11::jsonb[])
	ON CONFLICT (event_id) DO NOTHING`

// setDispositions copies the latest disposition event of each call in
// $1 onto the call's row: the code may be written before or after the row.
const setDispositions = `UPDATE calls c SET disposition = d.reason
	FROM (SELECT DISTINCT ON (call_id) call_id, reason FROM events
		WHERE kind = '` + EventDisposition + `' AND call_id = ANY($1::text[])
		ORDER BY call_id, at DESC, event_id DESC) d
	WHERE c.call_id = d.call_id AND c.disposition <> d.reason`

// setWrapUp gives the calls named their wrap-up time: the sum of their
// wrap_up events. It runs after the inserts of each batch that has calls
// or wrap_up events, so a call gets its time whichever of the two comes
// first (a wrap-up ends after the call's record is written; a replayed
// spool may bring them in either order); running it again changes nothing.
const setWrapUp = `UPDATE calls c SET wrap_up_seconds = w.seconds
	FROM (SELECT call_id, sum(duration_seconds) AS seconds FROM events
		WHERE kind = 'wrap_up' AND call_id = ANY($1::text[]) GROUP BY call_id) w
	WHERE c.call_id = w.call_id AND c.wrap_up_seconds <> w.seconds`

// jsonArg is raw JSON as a query argument (NULL when empty).
func jsonArg(b []byte) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

func smallint(p *int) *int16 {
	if p == nil {
		return nil
	}
	v := int16(*p)
	return &v
}

func (b *pgBackend) write(ctx context.Context, batch *Batch) error {
	if err := b.ensureSchema(ctx); err != nil {
		return err
	}
	var q pgx.Batch
	if n := len(batch.Calls); n > 0 {
		var text [15][]string
		for k := range text {
			text[k] = make([]string, n)
		}
		var times [5][]*time.Time
		for k := range times {
			times[k] = make([]*time.Time, n)
		}
		var secs [5][]float64
		for k := range secs {
			secs[k] = make([]float64, n)
		}
		csat, nps := make([]*int16, n), make([]*int16, n)
		legs, transfers, monitors := make([]*string, n), make([]*string, n), make([]*string, n)
		for i := range batch.Calls {
			c := &batch.Calls[i]
			for k, v := range [...]string{c.CallID, c.Direction, c.Hotline, c.Queue, c.Customer, c.CustomerID, c.Segment, c.Style, c.Reason,
				c.Agent, c.Outcome, c.Cause, c.Recording, c.Callback} {
				text[k][i] = v
			}
			times[0][i], times[1][i], times[2][i], times[3][i], times[4][i] = &c.Arrived, c.Queued, c.Connected, c.SurveyStart, &c.Ended
			for k, v := range [...]float64{c.Wait, c.Answer, c.Talk, c.Hold, c.WrapUp} {
				secs[k][i] = v
			}
			csat[i], nps[i] = smallint(c.CSAT), smallint(c.NPS)
			legs[i], transfers[i], monitors[i] = jsonArg(c.Legs), jsonArg(c.Transfers), jsonArg(c.Monitors)
		}
		q.Queue(insertCalls, text[0], text[1], text[2], text[3], text[4], text[5], text[6], text[7], text[8], text[9],
			times[0], times[1], times[2], times[3], times[4], secs[0], secs[1], secs[2], secs[3], secs[4],
			text[10], text[11], csat, nps, text[12], text[13], legs, transfers, monitors)
	}
	if n := len(batch.Events); n > 0 {
		var text [7][]string
		for k := range text {
			text[k] = make([]string, n)
		}
		at, pos, dur, detail := make([]time.Time, n), make([]int32, n), make([]float64, n), make([]*string, n)
		for i := range batch.Events {
			e := &batch.Events[i]
			for k, v := range [...]string{e.ID, e.Kind, e.CallID, e.Agent, e.Queue, e.Customer, e.Reason} {
				text[k][i] = v
			}
			at[i], pos[i], dur[i], detail[i] = e.At, int32(e.Position), e.Duration, jsonArg(e.Detail)
		}
		q.Queue(insertEvents, text[0], at, text[1], text[2], text[3], text[4], text[5], pos, dur, text[6], detail)
	}
	if ids := dispositionCalls(batch); len(ids) > 0 {
		q.Queue(setDispositions, ids)
	}
	if ids := wrapUpCalls(batch); len(ids) > 0 {
		q.Queue(setWrapUp, ids)
	}
	if q.Len() == 0 {
		return nil
	}
	// A batch cut short is harmless: its replay skips the rows already stored.
	return b.pool.SendBatch(ctx, &q).Close()
}

// dispositionCalls lists the calls of b whose row may need its
// disposition: every call row written and every call given a code.
func dispositionCalls(b *Batch) []string {
	var ids []string
	for _, c := range b.Calls {
		ids = append(ids, c.CallID)
	}
	for _, e := range b.Events {
		if e.Kind == EventDisposition && e.CallID != "" {
			ids = append(ids, e.CallID)
		}
	}
	return ids
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
	outcome, cause, csat, nps, recording, callback, legs, transfers, monitors, disposition`

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
		var legs, transfers, monitors []byte
		err := r.Scan(&c.CallID, &c.Direction, &c.Hotline, &c.Queue, &c.Customer, &c.CustomerID, &c.Segment, &c.Style, &c.Reason, &c.Agent,
			&c.Arrived, &c.Queued, &c.Connected, &c.SurveyStart, &c.Ended, &c.Wait, &c.Answer, &c.Talk, &c.Hold, &c.WrapUp,
			&c.Outcome, &c.Cause, &csat, &nps, &c.Recording, &c.Callback, &legs, &transfers, &monitors, &c.Disposition)
		c.CSAT, c.NPS = intPtr(csat), intPtr(nps)
		c.Legs, c.Transfers, c.Monitors = legs, transfers, monitors
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
