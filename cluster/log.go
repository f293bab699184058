package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Log is a shared, ordered log of opaque entries in a Redis stream: every
// node appends with Submit and applies every node's entries, in the
// stream's one order, with the apply function given to OpenLog. A
// replicated state machine (routing's ACD) is built on it.
//
// A node that opens the log replays it from the start, so it holds the
// same state as the nodes running already. Entries are not trimmed while
// any node runs (the ACD's log grows by its ticks, 4 a second, and a few
// entries per call); the log lapses Lease after the last node stopped.
// After a Redis restart the stream starts again empty: entries appended
// but not yet read by every node at the moment Redis died may have been
// applied by some nodes only, and a node opening the log afterwards
// replays only what came since; reservations (Reserve) are the guard
// that keeps an agent from being offered twice meanwhile.
type Log struct {
	n     *Node
	key   string
	apply func(origin string, data []byte) any

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
	l := &Log{n: n, key: n.key("log", name), apply: apply, waiting: map[string]chan any{}, last: "0", done: make(chan struct{})}
	n.mu.Lock()
	n.logs = append(n.logs, l.key) // kept as long as the cluster lives
	n.logObjs = append(n.logObjs, l)
	n.mu.Unlock()
	for start := "-"; ; start = "(" + l.last {
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
}
