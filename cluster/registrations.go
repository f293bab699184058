package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/redis/go-redis/v9"

	"hotline/sip/registrar"
)

// Registrations is where a node's own registrations come from (its
// *registrar.Registrar).
type Registrations interface {
	Registered() []string
	Lookup(username string) []registrar.Binding
}

// binding is a registrar.Binding as stored in Redis.
type binding struct {
	Contact   string    `json:"contact"`
	Source    string    `json:"source"`
	Transport string    `json:"transport"`
	Expires   time.Time `json:"expires"`
	CallID    string    `json:"call_id"`
	CSeq      uint32    `json:"cseq"`
	UserAgent string    `json:"user_agent,omitempty"`
	Path      []string  `json:"path,omitempty"`
	Node      string    `json:"node"`
}

// generations is a Registrations that counts its changes (the
// registrar's Generation): a sync is skipped while it has not moved.
type generations interface {
	Generation() uint64
}

// regState is what this node has published: user -> contact -> value.
type regState struct {
	mu        sync.Mutex
	source    Registrations
	published map[string]map[string]string
	// gen is the source's generation at the last sync that published
	// all of it (synced); the next sync at the same generation has
	// nothing to publish.
	gen    uint64
	synced bool
}

func newRegState() *regState { return &regState{published: map[string]map[string]string{}} }

// forget makes the next sync publish everything again.
func (r *regState) forget() {
	r.mu.Lock()
	r.published = map[string]map[string]string{}
	r.synced = false
	r.mu.Unlock()
}

// ShareRegistrations makes the node publish src's live bindings (each
// Heartbeat, and again after a Redis restart) so that every node can
// reach every agent's phone (Bindings).
func (n *Node) ShareRegistrations(src Registrations) {
	n.regs.mu.Lock()
	n.regs.source = src
	n.regs.synced = false
	n.regs.mu.Unlock()
}

// delIfScript deletes hash field ARGV[1] of KEYS[1] if it holds ARGV[2].
var delIfScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
`)

// publishScript sets hash field ARGV[1] of KEYS[1] to ARGV[2] and makes
// the key live at least ARGV[3] ms.
var publishScript = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
`)

// SyncRegistrations publishes what changed in the node's registrations
// now, without waiting for the next heartbeat.
func (n *Node) SyncRegistrations(ctx context.Context) error { return n.syncRegistrations(ctx) }

// syncRegistrations publishes what changed in the node's registrations
// since the last sync.
func (n *Node) syncRegistrations(ctx context.Context) error {
	r := n.regs
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.source == nil {
		return nil
	}
	var gen uint64
	g, counted := r.source.(generations)
	if counted {
		// Read before the bindings: a change made meanwhile moves it on,
		// and the next sync publishes it.
		gen = g.Generation()
		if r.synced && gen == r.gen {
			return nil // a heartbeat with no registration changed
		}
	}
	at := n.now()
	now := map[string]map[string]string{}
	for _, u := range r.source.Registered() {
		for _, b := range r.source.Lookup(u) {
			if !at.Before(b.Expires) {
				continue // expired: not published (withdrawn if it was)
			}
			data, err := json.Marshal(binding{
				Contact: b.Contact.String(), Source: b.Source, Transport: b.Transport, Expires: b.Expires.UTC(),
				CallID: b.CallID, CSeq: b.CSeq, UserAgent: b.UserAgent, Path: b.Path, Node: n.cfg.Node,
			})
			if err != nil {
				return fmt.Errorf("cluster: binding of %s: %w", u, err)
			}
			if now[u] == nil {
				now[u] = map[string]string{}
			}
			now[u][b.Contact.String()] = string(data)
		}
	}
	var errs []error
	for u, contacts := range now {
		for c, v := range contacts {
			if r.published[u][c] == v {
				continue
			}
			var b binding
			_ = json.Unmarshal([]byte(v), &b)
			// the key outlives its longest binding; expired fields are
			// skipped by Bindings
			ttl := b.Expires.Sub(at) + time.Second
			if err := publishScript.Run(ctx, n.rdb, []string{n.key("reg", u)}, c, v, ttl.Milliseconds()).Err(); err != nil {
				errs = append(errs, err)
				continue
			}
			if r.published[u] == nil {
				r.published[u] = map[string]string{}
			}
			r.published[u][c] = v
		}
	}
	for u, contacts := range r.published {
		for c, v := range contacts {
			if _, still := now[u][c]; still {
				continue
			}
			if err := delIfScript.Run(ctx, n.rdb, []string{n.key("reg", u)}, c, v).Err(); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(contacts, c)
		}
		if len(contacts) == 0 {
			delete(r.published, u)
		}
	}
	if err := errors.Join(errs...); err != nil {
		r.synced = false
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	r.gen, r.synced = gen, counted
	return nil
}

// Bindings returns the live bindings of user published by any node (live:
// expiring after now by the node's clock, Options.Now), the latest expiry
// first.
func (n *Node) Bindings(ctx context.Context, user string) ([]registrar.Binding, error) {
	return n.bindings(ctx, user, "")
}

// OtherBindings is Bindings without those this node published.
func (n *Node) OtherBindings(ctx context.Context, user string) ([]registrar.Binding, error) {
	return n.bindings(ctx, user, n.cfg.Node)
}

func (n *Node) bindings(ctx context.Context, user, except string) ([]registrar.Binding, error) {
	vals, err := n.rdb.HGetAll(ctx, n.key("reg", user)).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	now := n.now()
	var out []registrar.Binding
	for _, v := range vals {
		var b binding
		if json.Unmarshal([]byte(v), &b) != nil || !now.Before(b.Expires) || (except != "" && b.Node == except) {
			continue
		}
		var u sip.Uri
		if sip.ParseUri(b.Contact, &u) != nil {
			continue
		}
		out = append(out, registrar.Binding{
			Username: user, Contact: u, Source: b.Source, Transport: b.Transport, Expires: b.Expires,
			CallID: b.CallID, CSeq: b.CSeq, UserAgent: b.UserAgent, Path: b.Path,
		})
	}
	slices.SortFunc(out, func(a, b registrar.Binding) int { return cmp.Compare(b.Expires.UnixNano(), a.Expires.UnixNano()) })
	return out, nil
}
