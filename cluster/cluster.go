package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Errors of the cluster.
var (
	// ErrUnreachable: Redis did not answer.
	ErrUnreachable = errors.New("cluster: Redis unreachable")
	// ErrConfigMismatch: the node's shared configuration differs from
	// the one the live nodes run with.
	ErrConfigMismatch = errors.New("cluster: shared configuration differs from the cluster's")
	// ErrDuplicateNode: another live node has the same name.
	ErrDuplicateNode = errors.New("cluster: another live node has this name")
	// ErrNotLive: the node is not (or no longer) live in Redis, for
	// example just after a Redis restart, until it has re-joined.
	ErrNotLive = errors.New("cluster: node not live in Redis")
	// ErrSettling: Redis restarted moments ago; reservations held before
	// are being restored and no new one is granted yet.
	ErrSettling = errors.New("cluster: settling after a Redis restart")
)

// Node is this process's membership of the cluster. Its methods are safe
// for concurrent use.
type Node struct {
	cfg    Config
	rdb    *redis.Client
	log    *slog.Logger
	hash   string
	runID  string
	addr   string
	onLost func(agent, offer string)
	// now is the clock the expiries of data carry (registrations'
	// bindings, callbacks); the leases in Redis (PX) and the waits for
	// Redis count on Redis's and the process's real time.
	now func() time.Time

	mu      sync.Mutex
	epoch   string
	resv    map[string]string // agent -> offer held by this node
	regs    *regState
	rejoins int
	// live nodes seen at the last heartbeat, and who to tell of the
	// nodes that left since
	seen       map[string]bool
	onNodeLost func(name string)
	// after a rejoin, nodes are not judged lost before watchAfter: they
	// may not have joined again yet
	watchAfter time.Time
	// logs are the keys of the logs this node opened (kept alive by its
	// heartbeat); ticker says whether the node has the ticker role
	logs    []string
	logObjs []*Log
	ticker  atomic.Bool
	// secret is the cluster's nonce secret once read (NonceSecret)
	secret string
}

// ConfigHash is the hash the nodes of one cluster must agree on: SHA-256
// of the shared configuration in a canonical encoding.
func ConfigHash(shared []byte) string {
	sum := sha256.Sum256(shared)
	return hex.EncodeToString(sum[:])
}

// Options are a Node's dependencies.
type Options struct {
	// Shared is the canonical encoding of the configuration every node
	// must share (agents, queues, hotline numbers, routing).
	Shared []byte
	Logger *slog.Logger
	// OnLost is told when a reservation this node held was found taken
	// or gone (after a long loss of Redis): the offer should end.
	OnLost func(agent, offer string)
	// Now is the clock (default time.Now): the registrar's, whose
	// bindings' expiries the node publishes and compares, and the
	// default of the callbacks' (CallbackOptions.Now).
	Now func() time.Time
}

// Join connects to Redis and joins the cluster: it fails with
// ErrUnreachable when Redis does not answer, ErrConfigMismatch when the
// live nodes run another shared configuration, and ErrDuplicateNode when
// a live node has the same name (a previous run of this node that was
// killed is waited for, up to Lease). cfg must be defaulted and valid.
func Join(ctx context.Context, cfg Config, o Options) (*Node, error) {
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("cluster: redis_url: %w", err)
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	opt.MaxRetries = 1
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OnLost == nil {
		o.OnLost = func(string, string) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	n := &Node{
		cfg: cfg, rdb: redis.NewClient(opt), log: o.Logger.With("component", "cluster", "node", cfg.Node),
		hash: ConfigHash(o.Shared), runID: randomID(), addr: opt.Addr, onLost: o.OnLost, now: o.Now,
		resv: map[string]string{}, regs: newRegState(),
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = n.rdb.Ping(pctx).Err()
	cancel()
	if err != nil {
		_ = n.rdb.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	deadline := time.Now().Add(cfg.Lease + cfg.Heartbeat)
	for {
		err = n.join(ctx, false)
		if !errors.Is(err, ErrDuplicateNode) || time.Now().After(deadline) {
			break
		}
		n.log.Info("waiting for the previous run of this node to lapse")
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(cfg.Heartbeat):
			continue
		}
		break
	}
	if err != nil {
		_ = n.rdb.Close()
		return nil, err
	}
	n.log.Info("joined the cluster", "redis", n.addr, "config_hash", n.hash[:12])
	return n, nil
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

func (n *Node) key(parts ...string) string {
	return n.cfg.KeyPrefix + strings.Join(parts, ":")
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// joinScript checks the shared configuration's hash, makes the node live
// and starts an epoch when Redis has none, with a settle window when the
// node joins again (Redis restarted: reservations are being restored).
// KEYS: config, node, epoch, settle. ARGV: hash, node name, run id,
// lease ms, new epoch, settle ms.
// Returns {status, epoch, config hash, config node}; status 1 joined,
// 0 config mismatch, -1 duplicate node.
var joinScript = redis.NewScript(`
local h = redis.call('HGET', KEYS[1], 'hash')
if h and h ~= ARGV[1] then
  return {0, '', h, redis.call('HGET', KEYS[1], 'node') or ''}
end
local cur = redis.call('GET', KEYS[2])
if cur and cur ~= ARGV[3] then
  return {-1, '', h or '', ''}
end
if not h then
  redis.call('HSET', KEYS[1], 'hash', ARGV[1], 'node', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
if redis.call('SET', KEYS[3], ARGV[5], 'NX') and ARGV[6] ~= '0' then
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[6])
end
return {1, redis.call('GET', KEYS[3]), ARGV[1], ''}
`)

func (n *Node) join(ctx context.Context, again bool) error {
	settle := int64(0) // a first start holds no reservation to restore
	if again {
		settle = ms(n.cfg.Settle)
	}
	res, err := joinScript.Run(ctx, n.rdb,
		[]string{n.key("config"), n.key("node", n.cfg.Node), n.key("epoch"), n.key("settle")},
		n.hash, n.cfg.Node, n.runID, ms(n.cfg.Lease), randomID(), settle).Slice()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	status, _ := res[0].(int64)
	switch status {
	case 0:
		return fmt.Errorf("%w: node %s has configuration hash %s, the cluster runs %s (first set by node %s); agents, queues, hotline numbers and routing must be the same on every node (stop every node to change them)",
			ErrConfigMismatch, n.cfg.Node, n.hash[:12], short(res[2]), res[3])
	case -1:
		return fmt.Errorf("%w: %s (names must be unique; a killed node's name is free again after lease %s)", ErrDuplicateNode, n.cfg.Node, n.cfg.Lease)
	}
	n.mu.Lock()
	n.epoch = res[1].(string)
	n.mu.Unlock()
	return nil
}

func short(v any) string {
	s, _ := v.(string)
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Node }

// Rejoins counts how often the node found it had to join again (Redis
// restarted or the node's lease lapsed) since Join.
func (n *Node) Rejoins() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rejoins
}

// heartbeatScript renews the node's and the configuration's lease when
// the node is still live in the same epoch, takes or keeps the ticker
// role when free or its own, and keeps the shared logs (KEYS[5...]) as
// long as the configuration. KEYS: node, epoch, config, ticker, logs...
// ARGV: run id, epoch, lease ms. Returns {0} when the node must join
// again, else {1, 1 if this node is the ticker}.
var heartbeatScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[2] or redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return {0, 0}
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
for i = 5, #KEYS do
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
end
local t = redis.call('GET', KEYS[4])
if t == ARGV[1] then
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
  return {1, 1}
end
if not t then
  redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[3])
  return {1, 1}
end
return {1, 0}
`)

// Run renews the node's leases every Heartbeat until ctx ends. When Redis
// restarted (or the node's lease lapsed while Redis was unreachable) it
// joins again and re-publishes what the node owns: its reservations and
// its phones' registrations.
func (n *Node) Run(ctx context.Context) {
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := n.Heartbeat(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("heartbeat failed", "error", err)
		}
	}
}

// Heartbeat does one round of Run.
func (n *Node) Heartbeat(ctx context.Context) error {
	n.mu.Lock()
	epoch := n.epoch
	keys := append([]string{n.key("node", n.cfg.Node), n.key("epoch"), n.key("config"), n.key("ticker")}, n.logs...)
	n.mu.Unlock()
	res, err := heartbeatScript.Run(ctx, n.rdb, keys, n.runID, epoch, ms(n.cfg.Lease)).Int64Slice()
	if err != nil || len(res) != 2 {
		n.ticker.Store(false)
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, n.addr, err)
	}
	n.ticker.Store(res[1] == 1)
	if res[0] == 0 {
		n.log.Warn("not live in Redis any more (Redis restarted or the lease lapsed): joining again and re-publishing")
		if err := n.join(ctx, true); err != nil {
			return err
		}
		n.mu.Lock()
		n.rejoins++
		n.watchAfter = time.Now().Add(n.cfg.Settle + 2*n.cfg.Heartbeat)
		n.mu.Unlock()
		n.restoreReservations(ctx)
		n.regs.forget()
		n.mu.Lock()
		secret := n.secret
		n.mu.Unlock()
		if secret != "" { // the nodes keep the secret they share
			n.rdb.SetNX(ctx, n.key("nonce_secret"), secret, 0)
		}
		n.mu.Lock()
		logs := slices.Clone(n.logObjs)
		n.mu.Unlock()
		for _, l := range logs {
			l.resync(ctx)
		}
	}
	n.mu.Lock()
	logs := slices.Clone(n.logObjs)
	n.mu.Unlock()
	for _, l := range logs {
		if err := l.position(ctx); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
		}
	}
	if err := n.renewReservations(ctx); err != nil {
		return err
	}
	if err := n.watchNodes(ctx); err != nil {
		return err
	}
	return n.syncRegistrations(ctx)
}

// NonceSecret returns the secret every node signs its digest nonces with
// (registrar.SetNonceSecret), created by the first node that asks.
func (n *Node) NonceSecret(ctx context.Context) ([]byte, error) {
	key := n.key("nonce_secret")
	if err := n.rdb.SetNX(ctx, key, randomID()+randomID(), 0).Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	v, err := n.rdb.Get(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	n.mu.Lock()
	n.secret = v
	n.mu.Unlock()
	return []byte(v), nil
}

// Ticker says whether this node has the ticker role: one live node at a
// time (another takes it within Lease of its death) submits the shared
// ACD's periodic ticks, so that the log carries one clock, not one per
// node.
func (n *Node) Ticker() bool { return n.ticker.Load() }

// dropScript deletes KEYS[1] if its value starts with ARGV[1].
var dropScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// dropReservations deletes the reservations of a lost node, so that its
// agents are free as soon as its calls are ended (rather than when its
// reservations lapse by themselves, about the same lease later).
func (n *Node) dropReservations(ctx context.Context, node string) error {
	iter := n.rdb.Scan(ctx, 0, n.key("resv", "*"), 200).Iterator()
	for iter.Next(ctx) {
		if err := dropScript.Run(ctx, n.rdb, []string{iter.Val()}, node+"|").Err(); err != nil {
			return err
		}
	}
	return iter.Err()
}

// OnNodeLost registers f to be told (from Run) of every node whose lease
// lapsed since the previous heartbeat: a dead node.
func (n *Node) OnNodeLost(f func(name string)) {
	n.mu.Lock()
	n.onNodeLost = f
	n.mu.Unlock()
}

func (n *Node) watchNodes(ctx context.Context) error {
	n.mu.Lock()
	wait := time.Now().Before(n.watchAfter)
	n.mu.Unlock()
	if wait {
		return nil
	}
	live, err := n.Live(ctx)
	if err != nil {
		return err
	}
	now := make(map[string]bool, len(live))
	for _, name := range live {
		now[name] = true
	}
	if !now[n.cfg.Node] {
		// This node is not live either: Redis restarted (empty) since
		// this heartbeat renewed its lease, and the other nodes have not
		// joined again yet. They are not lost; the next heartbeat joins
		// again and watches from there (watchAfter).
		return nil
	}
	n.mu.Lock()
	var lost []string
	for name := range n.seen {
		if !now[name] && name != n.cfg.Node {
			lost = append(lost, name)
		}
	}
	n.seen = now
	f := n.onNodeLost
	n.mu.Unlock()
	slices.Sort(lost)
	for _, name := range lost {
		n.log.Warn("node lost: its lease lapsed", "lost_node", name)
		if err := n.dropReservations(ctx, name); err != nil {
			n.log.Warn("lost node's reservations left to lapse", "lost_node", name, "error", err)
		}
		if f != nil {
			f(name)
		}
	}
	return nil
}

// Close releases what the node holds in Redis (its reservations, its
// liveness) and closes the connection.
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	resv := make(map[string]string, len(n.resv))
	for a, o := range n.resv {
		resv[a] = o
	}
	n.mu.Unlock()
	for a, o := range resv {
		_ = n.Release(ctx, a, o)
	}
	_ = releaseScript.Run(ctx, n.rdb, []string{n.key("node", n.cfg.Node)}, n.runID).Err()
	return n.rdb.Close()
}

// Live returns the names of the live nodes, sorted.
func (n *Node) Live(ctx context.Context) ([]string, error) {
	var out []string
	prefix := n.key("node", "")
	iter := n.rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		out = append(out, strings.TrimPrefix(iter.Val(), prefix))
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, n.addr, err)
	}
	slices.Sort(out)
	return out, nil
}
