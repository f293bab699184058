package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Log is a shared, ordered log of opaque entries in a Redis stream: every
// node appends with Submit and applies every node's entries, in the
// stream's one order, with the apply function given to OpenLog. A
// replicated state machine (routing's ACD) is built on it.
//
// A node that opens the log replays it from the start (or, with
// Snapshots, from the latest snapshot), so it holds the same state as the
// nodes running already. Without Snapshots entries are not trimmed while
// any node runs (the ACD's log grows by its ticks, 4 a second, and a few
// entries per call); with them the stream is trimmed after each snapshot
// (OpenLogWithSnapshots). The log lapses Lease after the last node
// stopped.
// After a Redis restart the stream starts again empty: entries appended
// but not yet read by every node at the moment Redis died may have been
// applied by some nodes only, and a node opening the log afterwards
// replays only what came since; reservations (Reserve) are the guard
// that keeps an agent from being offered twice meanwhile.
type Log struct {
	n     *Node
	key   string
	apply func(origin string, data []byte) any
	snaps *Snapshots
	// since counts the entries applied since the last snapshot; writing
	// is set while one is being written
	since   int
	writing atomic.Bool
	writes  sync.WaitGroup // snapshots being written

	mu      sync.Mutex
	seq     uint64
	waiting map[string]chan any
	last    string // id of the last entry applied

	cancel context.CancelFunc
	done   chan struct{}
}

// OpenLog replays the log name and keeps applying new entries until
// Close. apply is called for one entry at a time, with the node that
// submitted it; its return value is Submit's result on that node.
func (n *Node) OpenLog(ctx context.Context, name string, apply func(origin string, data []byte) any) (*Log, error) {
	return n.OpenLogWithSnapshots(ctx, name, apply, nil)
}

// Snapshots keep a Log short: every Every entries the ticker node (see
// Ticker) takes a snapshot of the state the entries built, writes it
// into Redis with the id of the last entry it covers, and trims the
// stream below the oldest entry a live node still needs (the snapshot's,
// or older when a node has not applied that far). A node that opens the
// log restores the snapshot and applies the entries after it. Every node
// must open a log with snapshots with them: OpenLog would replay a
// trimmed stream from its first entry left. (A reader that follows the
// log live, opened before any trim, is spared: every open log's position
// counts.)
type Snapshots struct {
	// Take encodes the state; it is called between two entries, on the
	// goroutine that applies them.
	Take func() ([]byte, error)
	// Restore makes the state the one a snapshot encodes; it is called
	// by OpenLog, before any entry is applied.
	Restore func(data []byte) error
	// Every is how many entries a snapshot is taken after; default
	// the node's Config.SnapshotEvery (2000).
	Every int
}

// OpenLogWithSnapshots is OpenLog on a log kept short by snapshots.
func (n *Node) OpenLogWithSnapshots(ctx context.Context, name string, apply func(origin string, data []byte) any, snaps *Snapshots) (*Log, error) {
	l := &Log{n: n, key: n.key("log", name), apply: apply, snaps: snaps, waiting: map[string]chan any{}, last: "0", done: make(chan struct{})}
	if snaps != nil && snaps.Every <= 0 {
		snaps.Every = n.cfg.SnapshotEvery
		if snaps.Every <= 0 {
			snaps.Every = defaultSnapshotEvery
		}
	}
	n.mu.Lock()
	n.logs = append(n.logs, l.key) // kept as long as the cluster lives
	if snaps != nil {
		n.logs = append(n.logs, l.snapKey())
	}
	n.logObjs = append(n.logObjs, l)
	n.mu.Unlock()
	start, restored := "-", ""
	if snaps != nil {
		id, data, err := l.loadSnapshot(ctx)
		if err != nil {
			return nil, err
		}
		if id != "" {
			if err := snaps.Restore(data); err != nil {
				return nil, fmt.Errorf("cluster: restoring the snapshot of %s at %s: %w", l.key, id, err)
			}
			l.last, start, restored = id, "("+id, id
		}
	}
	replayed := 0
	for ; ; start = "(" + l.last {
		msgs, err := n.rdb.XRangeN(ctx, l.key, start, "+", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: replaying %s: %w", ErrUnreachable, n.addr, l.key, err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			l.deliver(m)
		}
		replayed += len(msgs)
	}
	if snaps != nil {
		// Which snapshot a node (re)joined from, and how much it replayed.
		n.log.Info("shared log opened", "log", l.key, "snapshot", cmp.Or(restored, "none"), "replayed", replayed)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	go l.read(rctx)
	return l, nil
}

func (l *Log) deliver(m redis.XMessage) {
	origin, _ := m.Values["node"].(string)
	id, _ := m.Values["id"].(string)
	data, _ := m.Values["op"].(string)
	res := l.apply(origin, []byte(data))
	l.mu.Lock()
	l.last = m.ID
	ch := l.waiting[id]
	delete(l.waiting, id)
	l.mu.Unlock()
	if ch != nil {
		ch <- res
	}
	if l.snaps != nil {
		l.since++
		if l.since >= l.snaps.Every && l.n.Ticker() && !l.writing.Load() {
			l.since = 0
			l.snapshot(m.ID)
		}
	}
}

func (l *Log) snapKey() string { return l.key + ":snap" }
func (l *Log) posKey() string  { return l.key + ":pos:" }

// loadSnapshotScript returns the snapshot {id, data} ({} when none) and
// records that the node needs the entries from its id on (KEYS: snap,
// pos of the node; ARGV: lease ms), so that no trim takes them before
// the node read them.
var loadSnapshotScript = redis.NewScript(`
local s = redis.call('HMGET', KEYS[1], 'id', 'data')
local id = s[1] or '0-0'
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
if not s[1] then return {} end
return {s[1], s[2]}
`)

func (l *Log) loadSnapshot(ctx context.Context) (id string, data []byte, err error) {
	res, err := loadSnapshotScript.Run(ctx, l.n.rdb, []string{l.snapKey(), l.posKey() + l.n.cfg.Node}, ms(l.n.cfg.Lease)).StringSlice()
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s: reading the snapshot of %s: %w", ErrUnreachable, l.n.addr, l.key, err)
	}
	if len(res) != 2 {
		return "", nil, nil
	}
	return res[0], []byte(res[1]), nil
}

// saveSnapshotScript keeps the newer snapshot. KEYS: snap. ARGV: id ms,
// id seq, id, data, lease ms. Returns 1 when written.
var saveSnapshotScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'id')
if cur then
  local ms, seq = string.match(cur, '^(%d+)-(%d+)$')
  if tonumber(ms) > tonumber(ARGV[1]) or (tonumber(ms) == tonumber(ARGV[1]) and tonumber(seq) >= tonumber(ARGV[2])) then
    return 0
  end
end
redis.call('HSET', KEYS[1], 'id', ARGV[3], 'data', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

// snapshot takes a snapshot at entry id (just applied) and writes it, and
// trims the stream, in the background.
func (l *Log) snapshot(id string) {
	data, err := l.snaps.Take()
	if err != nil {
		l.n.log.Warn("no snapshot of the shared log taken", "log", l.key, "error", err)
		return
	}
	l.writing.Store(true)
	l.writes.Add(1)
	go func() {
		defer l.writes.Done()
		defer l.writing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.saveAndTrim(ctx, id, data); err != nil {
			l.n.log.Warn("shared log snapshot not written; the log is trimmed after the next", "log", l.key, "error", err)
		}
	}()
}

func (l *Log) saveAndTrim(ctx context.Context, id string, data []byte) error {
	idMS, idSeq := splitID(id)
	if err := saveSnapshotScript.Run(ctx, l.n.rdb, []string{l.snapKey()}, idMS, idSeq, id, data, ms(l.n.cfg.Lease)).Err(); err != nil {
		return err
	}
	// The oldest entry still needed: the snapshot's successor, or the
	// position of a live node that has not applied that far.
	minID := id
	var keys []string
	iter := l.n.rdb.Scan(ctx, 0, l.posKey()+"*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(keys) > 0 {
		pos, err := l.n.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return err
		}
		for _, p := range pos {
			if s, ok := p.(string); ok && idBefore(s, minID) {
				minID = s
			}
		}
	}
	// Entries up to minID are applied by every live node (or in the
	// snapshot a joining node restores): XTRIM MINID keeps minID itself.
	return l.n.rdb.XTrimMinID(ctx, l.key, minID).Err()
}

// position records in Redis the last entry this node applied (for the
// snapshots' trims), lapsing with the node's lease.
func (l *Log) position(ctx context.Context) error {
	l.mu.Lock()
	last := l.last
	l.mu.Unlock()
	if last == "0" {
		last = "0-0"
	}
	return l.n.rdb.Set(ctx, l.posKey()+l.n.cfg.Node, last, l.n.cfg.Lease).Err()
}

func (l *Log) read(ctx context.Context) {
	defer close(l.done)
	for ctx.Err() == nil {
		l.mu.Lock()
		last := l.last
		l.mu.Unlock()
		streams, err := l.n.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{l.key, last}, Count: 500, Block: 200 * time.Millisecond}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
			}
			continue
		}
		for _, s := range streams {
			for _, m := range s.Messages {
				l.deliver(m)
			}
		}
	}
}

// Submit appends data to the log and returns what applying it on this
// node returned. While Redis is unreachable it retries for up to the
// node's Lease, then fails with ErrUnreachable.
func (l *Log) Submit(data []byte) (any, error) {
	l.mu.Lock()
	l.seq++
	id := l.n.runID + "-" + strconv.FormatUint(l.seq, 10)
	ch := make(chan any, 1)
	l.waiting[id] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.waiting, id)
		l.mu.Unlock()
	}()
	deadline := time.Now().Add(l.n.cfg.Lease)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := l.n.rdb.XAdd(ctx, &redis.XAddArgs{Stream: l.key, Values: []any{"node", l.n.cfg.Node, "id", id, "op", data}}).Err()
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, l.n.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case res := <-ch:
		return res, nil
	case <-time.After(time.Until(deadline) + time.Second):
		return nil, fmt.Errorf("%w: %s: entry appended but not read back", ErrUnreachable, l.n.addr)
	}
}

// resync follows a stream that started again (Redis restarted empty):
// when the stream is empty, or its newest entry is older than the last one
// applied (a Redis whose clock is behind), the reader reads it from the
// start. Nothing of the new stream was applied in either case.
func (l *Log) resync(ctx context.Context) {
	l.mu.Lock()
	last := l.last
	l.mu.Unlock()
	newest, err := l.n.rdb.XRevRangeN(ctx, l.key, "+", "-", 1).Result()
	if err != nil {
		return
	}
	if len(newest) > 0 && !idBefore(newest[0].ID, last) {
		return
	}
	l.mu.Lock()
	if l.last == last { // nothing delivered meanwhile
		l.last = "0"
	}
	l.mu.Unlock()
}

// idBefore compares stream ids "ms-seq".
func idBefore(a, b string) bool {
	am, as := splitID(a)
	bm, bs := splitID(b)
	return am < bm || am == bm && as < bs
}

func splitID(id string) (ms, seq uint64) {
	m, q, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(q, 10, 64)
	return ms, seq
}

// Close stops applying new entries.
func (l *Log) Close() {
	l.cancel()
	<-l.done
	l.writes.Wait()
	// This node needs no entry any more.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = l.n.rdb.Del(ctx, l.posKey()+l.n.cfg.Node).Err()
}
