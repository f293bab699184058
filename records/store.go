package records

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// backend stores batches and answers queries. write must be idempotent:
// a record whose id is already stored is ignored.
type backend interface {
	write(ctx context.Context, b *Batch) error
	// calls and events return at most q.Limit+1 rows, newest first.
	calls(ctx context.Context, q CallQuery) ([]Call, error)
	events(ctx context.Context, q EventQuery) ([]Event, error)
	close() error
}

// Stats are the store's counters since it started.
type Stats struct {
	// Written records reached the backend; Spooled went to the spool
	// (and are counted again in Written once replayed).
	Written, Spooled uint64
	// SpoolFiles is the number of batches waiting in the spool.
	SpoolFiles int
	// Down is true while the backend refuses writes.
	Down bool
	// Held is how many records neither the backend nor the spool took at
	// the last flush (the disk full or gone): they are kept in memory
	// and tried again at each flush, and lost if the process ends first.
	// Overload control refuses new calls once sip.overload.records_held
	// of them pile up.
	Held int
}

// Store takes records from the call path and writes them in batches.
// Call and Event never block on the backend.
type Store struct {
	cfg   Config
	log   *slog.Logger
	b     backend
	spool *spool

	mu     sync.Mutex
	buf    Batch
	closed bool
	// stateBehind are the state kinds whose database copy is older than
	// the local file (the database refused the last save), each with the
	// number of that failure (stateFails), retried by run.
	stateBehind map[string]uint64
	stateFails  uint64

	kick    chan struct{}
	flushes chan chan struct{}
	stop    chan struct{}
	done    chan struct{}

	written, spooled atomic.Uint64
	down             atomic.Bool
	held             atomic.Int64 // Stats.Held
}

// Options are a Store's collaborators.
type Options struct {
	// Log receives the store's logs (component=records is added); nil
	// discards them.
	Log *slog.Logger
	// Now is the clock that ends a history query without "to" (the file
	// backend then reads the look_back_days before it); nil means
	// time.Now.
	Now func() time.Time
}

// Open opens the configured backend (for postgres: connects and applies
// pending migrations; an unreachable server is not fatal, records are
// spooled until it is reachable) and the spool, and starts the writer.
func Open(ctx context.Context, c Config, o Options) (*Store, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "records")
	now := o.Now
	if now == nil {
		now = time.Now
	}
	var b backend
	switch c.Backend {
	case BackendPostgres:
		pg, err := openPostgres(ctx, c.Postgres, log)
		if err != nil {
			return nil, err
		}
		b = pg
	default:
		fb, err := openFile(c.File, now)
		if err != nil {
			return nil, err
		}
		b = fb
	}
	return newStore(c, log, b)
}

func newStore(c Config, log *slog.Logger, b backend) (*Store, error) {
	sp, err := openSpool(c.SpoolDir)
	if err != nil {
		_ = b.close()
		return nil, err
	}
	s := &Store{cfg: c, log: log, b: b, spool: sp,
		kick: make(chan struct{}, 1), flushes: make(chan chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{})}
	if sp.len() > 0 {
		s.down.Store(true) // replay what a previous run left first
		log.Info("records spooled by a previous run will be replayed", "batches", sp.len())
	}
	go s.run()
	return s, nil
}

// Call hands a finished call's record to the store.
func (s *Store) Call(c Call) {
	c.clean()
	c.Arrived = norm(c.Arrived)
	c.Ended = norm(c.Ended)
	for _, p := range []**time.Time{&c.Queued, &c.Connected, &c.SurveyStart} {
		if *p != nil {
			t := norm(**p)
			*p = &t
		}
	}
	s.mu.Lock()
	s.buf.Calls = append(s.buf.Calls, c)
	n := s.buf.Len()
	s.mu.Unlock()
	s.wake(n)
}

// Event hands an event to the store, giving it an id when it has none.
func (s *Store) Event(e Event) {
	if e.ID == "" {
		e.ID = NewID()
	}
	e.At = norm(e.At)
	e.clean()
	s.mu.Lock()
	s.buf.Events = append(s.buf.Events, e)
	n := s.buf.Len()
	s.mu.Unlock()
	s.wake(n)
}

// norm is t in UTC at microsecond precision, what PostgreSQL keeps.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func (s *Store) wake(n int) {
	if n >= s.cfg.BatchSize {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// Flush returns once every record handed over before it was written or
// spooled (and, if the backend is up, the spool replayed).
func (s *Store) Flush(ctx context.Context) error {
	ch := make(chan struct{})
	select {
	case s.flushes <- ch:
	case <-s.done:
		return errors.New("records: store closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{Written: s.written.Load(), Spooled: s.spooled.Load(), SpoolFiles: s.spool.len(), Down: s.down.Load(), Held: int(s.held.Load())}
}

// Held returns Stats.Held: the records kept only in memory (one atomic
// load, for overload control's every sample).
func (s *Store) Held() int { return int(s.held.Load()) }

// Close writes what is buffered (to the spool if the backend is down) and
// closes the backend. Records that could be neither written nor spooled
// even then are lost with the process: Close says how many.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	var lost error
	s.mu.Lock()
	if n := s.buf.Len(); n > 0 {
		lost = fmt.Errorf("records: %d records neither written nor spooled at shutdown (the backend and the spool directory %s both refused them): lost", n, s.spool.dir)
	}
	s.mu.Unlock()
	return errors.Join(lost, s.b.close())
}

// Calls answers a history query.
func (s *Store) Calls(ctx context.Context, q CallQuery) (CallPage, error) {
	if q.Limit <= 0 || q.Limit > MaxLimit {
		q.Limit = DefaultLimit
	}
	rows, err := s.b.calls(ctx, q)
	if err != nil {
		return CallPage{}, err
	}
	p := CallPage{Calls: rows}
	if len(rows) > q.Limit {
		p.Calls = rows[:q.Limit]
		last := p.Calls[q.Limit-1]
		p.Next = Cursor{At: last.Arrived, ID: last.CallID}.Encode()
	}
	if p.Calls == nil {
		p.Calls = []Call{}
	}
	return p, nil
}

// Events answers an event query.
func (s *Store) Events(ctx context.Context, q EventQuery) (EventPage, error) {
	if q.Limit <= 0 || q.Limit > MaxLimit {
		q.Limit = DefaultLimit
	}
	rows, err := s.b.events(ctx, q)
	if err != nil {
		return EventPage{}, err
	}
	p := EventPage{Events: rows}
	if len(rows) > q.Limit {
		p.Events = rows[:q.Limit]
		last := p.Events[q.Limit-1]
		p.Next = Cursor{At: last.At, ID: last.ID}.Encode()
	}
	if p.Events == nil {
		p.Events = []Event{}
	}
	return p, nil
}

// run is the writer: it takes the buffer every FlushInterval (or when
// BatchSize records wait) and writes it.
func (s *Store) run() {
	defer close(s.done)
	tick := time.NewTicker(s.cfg.FlushInterval)
	defer tick.Stop()
	var lastTry, lastStateTry time.Time
	// spare is the buffer's next arrays: those of the batch written last,
	// emptied. Two pairs of arrays take turns instead of a new buffer
	// grown record by record after each flush.
	var spare Batch
	for {
		var flushed chan struct{}
		stopping := false
		select {
		case <-s.kick:
		case <-tick.C:
		case flushed = <-s.flushes:
		case <-s.stop:
			stopping = true
		}
		s.mu.Lock()
		b := s.buf
		s.buf = spare
		s.mu.Unlock()
		taken := b
		s.write(&b)
		spare = s.reusable(taken)
		if s.down.Load() && !stopping && (flushed != nil || time.Since(lastTry) >= s.cfg.RetryInterval) {
			lastTry = time.Now()
			s.replay()
		}
		if !stopping && time.Since(lastStateTry) >= s.cfg.RetryInterval {
			lastStateTry = time.Now()
			s.retryState()
		}
		if flushed != nil {
			close(flushed)
		}
		if stopping {
			return
		}
	}
}

// write stores b in batches of BatchSize; while the backend is down (or
// when it refuses a batch) they go to the spool.
func (s *Store) write(b *Batch) {
	for b.Len() > 0 {
		part := cut(b, s.cfg.BatchSize)
		if !s.down.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			err := s.b.write(ctx, &part)
			cancel()
			if err == nil {
				s.written.Add(uint64(part.Len()))
				continue
			}
			s.down.Store(true)
			s.log.Warn("records backend refuses writes; spooling until it is back", "error", err)
		}
		if err := s.spool.put(&part); err != nil {
			// Nothing else can keep them: this part and the rest of b
			// go back in front of the buffer, oldest first, to be tried
			// again at the next flush. Copies: b's arrays are the
			// buffer's next (reusable).
			s.log.Error("records neither written nor spooled; kept in memory", "records", part.Len()+b.Len(), "error", err)
			s.held.Store(int64(part.Len() + b.Len()))
			s.mu.Lock()
			s.buf.Calls = slices.Concat(part.Calls, b.Calls, s.buf.Calls)
			s.buf.Events = slices.Concat(part.Events, b.Events, s.buf.Events)
			s.mu.Unlock()
			return
		}
		s.spooled.Add(uint64(part.Len()))
	}
	// The records held at the last flush were at b's front: all kept now.
	s.held.Store(0)
}

// reusable returns b's arrays, emptied, for the buffer to fill again
// once write has returned: the backends and the spool are done with
// them by then, and records write could not keep were copied back into
// the buffer. Arrays grown past a few batches (a burst, a backend
// outage) are let go.
func (s *Store) reusable(b Batch) Batch {
	limit := 4 * s.cfg.BatchSize
	return Batch{Calls: emptied(b.Calls, limit), Events: emptied(b.Events, limit)}
}

// emptied is rs cleared to length 0 for reuse, or nil past limit. Only
// rs's length needs clearing: the array beyond it is still zero (new,
// or cleared when it was last emptied), as appends fill it in order.
func emptied[T any](rs []T, limit int) []T {
	if cap(rs) > limit {
		return nil
	}
	clear(rs)
	return rs[:0]
}

// writeTimeout bounds one batch write.
const writeTimeout = 10 * time.Second

// cut takes up to n records off the front of b.
func cut(b *Batch, n int) Batch {
	var p Batch
	k := min(n, len(b.Calls))
	p.Calls, b.Calls = b.Calls[:k:k], b.Calls[k:]
	k = min(n-k, len(b.Events))
	p.Events, b.Events = b.Events[:k:k], b.Events[k:]
	return p
}

// replay writes the spool oldest first, stopping at the first failure.
func (s *Store) replay() {
	for {
		name, b, err := s.spool.oldest()
		if err != nil {
			s.log.Error("records spool file unreadable; set aside as .bad", "file", name, "error", err)
			if err := s.spool.setAside(name); err != nil {
				return
			}
			continue
		}
		if name == "" {
			s.down.Store(false)
			s.log.Info("records backend is back; spool replayed")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err = s.b.write(ctx, b)
		cancel()
		if err != nil {
			s.log.Debug("records backend still down", "error", err)
			return
		}
		s.written.Add(uint64(b.Len()))
		if err := s.spool.remove(name); err != nil {
			s.log.Error("replayed spool file not removed (its records are stored; a replay would not duplicate them)", "file", name, "error", err)
			return
		}
	}
}

// String names the store's backend.
func (s *Store) String() string { return fmt.Sprintf("records(%s)", s.cfg.Backend) }
