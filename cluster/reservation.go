package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Reservation is who holds an agent.
type Reservation struct {
	Node  string
	Offer string
}

// value encodes a reservation of this run of the node.
func (n *Node) value(offer string) string {
	return n.cfg.Node + "|" + n.runID + "|" + offer
}

func parseValue(v string) Reservation {
	parts := strings.SplitN(v, "|", 3)
	if len(parts) != 3 {
		return Reservation{Offer: v}
	}
	return Reservation{Node: parts[0], Offer: parts[2]}
}

// reserveScript grants an agent. KEYS: resv, settle, node. ARGV: value,
// lease ms, run id. Returns 1 granted (or already ours), 0 held by
// another, -1 settling, -2 node not live.
var reserveScript = redis.NewScript(`
if redis.call('GET', KEYS[3]) ~= ARGV[3] then return -2 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
  end
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// Reserve reserves agent for offer (a call id, or any id of the offer)
// on this node. ok=false: another reservation holds the agent. An error
// (ErrUnreachable, ErrSettling, ErrNotLive) means the agent must not be
// offered now either.
func (n *Node) Reserve(ctx context.Context, agent, offer string) (ok bool, err error) {
	v := n.value(offer)
	res, err := reserveScript.Run(ctx, n.rdb, []string{n.key("resv", agent), n.key("settle"), n.key("node", n.cfg.Node)},
		v, ms(n.cfg.Lease), n.runID).Int()
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	switch res {
	case -1:
		return false, ErrSettling
	case -2:
		return false, ErrNotLive
	case 0:
		return false, nil
	}
	n.mu.Lock()
	n.resv[agent] = offer
	n.mu.Unlock()
	return true, nil
}

// releaseScript deletes KEYS[1] if it holds ARGV[1].
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Release ends this node's reservation of agent for offer; another's is
// left alone.
func (n *Node) Release(ctx context.Context, agent, offer string) error {
	n.mu.Lock()
	if n.resv[agent] == offer {
		delete(n.resv, agent)
	}
	n.mu.Unlock()
	if err := releaseScript.Run(ctx, n.rdb, []string{n.key("resv", agent)}, n.value(offer)).Err(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	return nil
}

// Holder returns who holds agent; ok=false when nobody does.
func (n *Node) Holder(ctx context.Context, agent string) (r Reservation, ok bool, err error) {
	v, err := n.rdb.Get(ctx, n.key("resv", agent)).Result()
	if errors.Is(err, redis.Nil) {
		return Reservation{}, false, nil
	}
	if err != nil {
		return Reservation{}, false, fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	return parseValue(v), true, nil
}

// renewScript renews the reservations KEYS[i] (i >= 2) that still hold
// ARGV[i+2] (restoring them when absent and restore is set: ARGV[1]),
// when the node (KEYS[1]) is live in this run (ARGV[3]). Returns the
// 1-based indexes (among the reservations) of those held by someone
// else (or gone, when not restoring), or {-1} when the node is not live:
// Redis restarted since the heartbeat found it live, and the
// reservations, gone with it, are restored when the node joins again
// (not forgotten as if another had taken them).
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[3] then return {-1} end
local lost = {}
local lease = ARGV[2]
for i = 2, #KEYS do
  local want = ARGV[i + 2]
  local cur = redis.call('GET', KEYS[i])
  if cur == want then
    redis.call('PEXPIRE', KEYS[i], lease)
  elseif not cur and ARGV[1] == '1' then
    redis.call('SET', KEYS[i], want, 'PX', lease)
  else
    table.insert(lost, i - 1)
  end
end
return lost
`)

func (n *Node) renewOrRestore(ctx context.Context, restore bool) error {
	n.mu.Lock()
	agents := make([]string, 0, len(n.resv))
	for a := range n.resv {
		agents = append(agents, a)
	}
	slices.Sort(agents)
	offers := make([]string, len(agents))
	for i, a := range agents {
		offers[i] = n.resv[a]
	}
	n.mu.Unlock()
	if len(agents) == 0 {
		return nil
	}
	keys := []string{n.key("node", n.cfg.Node)}
	args := []any{"0", ms(n.cfg.Lease), n.runID}
	if restore {
		args[0] = "1"
	}
	for i, a := range agents {
		keys = append(keys, n.key("resv", a))
		args = append(args, n.value(offers[i]))
	}
	lost, err := renewScript.Run(ctx, n.rdb, keys, args...).Int64Slice()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	if len(lost) == 1 && lost[0] == -1 {
		return nil // not live: the next heartbeat joins again and restores them
	}
	for _, i := range lost {
		a, o := agents[i-1], offers[i-1]
		n.mu.Lock()
		if n.resv[a] == o {
			delete(n.resv, a)
		}
		n.mu.Unlock()
		n.log.Error("reservation lost: the agent is held by another offer now", "agent", a, "call_id", o)
		n.onLost(a, o)
	}
	return nil
}

func (n *Node) renewReservations(ctx context.Context) error { return n.renewOrRestore(ctx, false) }

func (n *Node) restoreReservations(ctx context.Context) {
	if err := n.renewOrRestore(ctx, true); err != nil {
		n.log.Warn("restoring reservations failed", "error", err)
	}
}
