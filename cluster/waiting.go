package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// WaitingCall is a call waiting in a queue, as every node sees it.
type WaitingCall struct {
	ID       string         `json:"id"`
	Queue    string         `json:"queue"`
	Priority int            `json:"priority"` // higher first
	Arrived  time.Time      `json:"arrived"`  // then earlier first
	Skills   map[string]int `json:"skills,omitempty"`
	Segment  string         `json:"segment,omitempty"`
	// Node owns the call (its media is there); set by AddWaiting.
	Node string `json:"node"`
}

// score orders a queue: priority (higher first), then arrival (earlier
// first), in one float64 (priorities within ±400, millisecond arrivals
// until the year 2255 stay exact).
func score(c WaitingCall) float64 {
	return float64(-int64(c.Priority))*1e13 + float64(c.Arrived.UnixMilli())
}

// AddWaiting puts (or updates) a call of this node in its queue.
func (n *Node) AddWaiting(ctx context.Context, c WaitingCall) error {
	c.Node = n.cfg.Node
	n.mu.Lock()
	n.waiting[c.ID] = c
	n.mu.Unlock()
	return n.publishWaiting(ctx, c)
}

func (n *Node) publishWaiting(ctx context.Context, c WaitingCall) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("cluster: waiting call %s: %w", c.ID, err)
	}
	_, err = n.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, n.key("call", c.ID), data, 0)
		p.ZAdd(ctx, n.key("queue", c.Queue), redis.Z{Score: score(c), Member: c.ID})
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	return nil
}

// RemoveWaiting takes a call out of its queue (answered, abandoned, or
// moved to another queue).
func (n *Node) RemoveWaiting(ctx context.Context, queue, id string) error {
	n.mu.Lock()
	delete(n.waiting, id)
	n.mu.Unlock()
	_, err := n.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, n.key("queue", queue), id)
		p.Del(ctx, n.key("call", id))
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	return nil
}

func (n *Node) republishWaiting(ctx context.Context) error {
	n.mu.Lock()
	calls := make([]WaitingCall, 0, len(n.waiting))
	for _, c := range n.waiting {
		calls = append(calls, c)
	}
	n.mu.Unlock()
	var errs []error
	for _, c := range calls {
		errs = append(errs, n.publishWaiting(ctx, c))
	}
	return errors.Join(errs...)
}

// Waiting returns the calls waiting in queue on every live node, in the
// queue's one order: priority (higher first), then arrival. Calls of
// nodes that are not live any more are dropped from the queue.
func (n *Node) Waiting(ctx context.Context, queue string) ([]WaitingCall, error) {
	qkey := n.key("queue", queue)
	ids, err := n.rdb.ZRange(ctx, qkey, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = n.key("call", id)
	}
	vals, err := n.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	live := map[string]bool{}
	var out []WaitingCall
	var gone []any
	for i, v := range vals {
		s, ok := v.(string)
		var c WaitingCall
		if !ok || json.Unmarshal([]byte(s), &c) != nil {
			gone = append(gone, ids[i])
			continue
		}
		alive, seen := live[c.Node]
		if !seen {
			e, err := n.rdb.Exists(ctx, n.key("node", c.Node)).Result()
			alive = err != nil || e == 1 // in doubt, keep the call
			live[c.Node] = alive
		}
		if !alive {
			gone = append(gone, ids[i])
			n.rdb.Del(ctx, keys[i])
			continue
		}
		out = append(out, c)
	}
	if len(gone) > 0 {
		n.rdb.ZRem(ctx, qkey, gone...)
	}
	return out, nil
}
