package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"hotline/routing/callbacks"
)

// Callbacks is the callback store every node of a cluster shares
// (callbacks.Keeper): every node lists the same callbacks and one dialer
// wins each claim. Keys under the node's KeyPrefix:
//
//   - cb:<id>: the callback (JSON, with a revision counted up by every
//     change); a completed one expires CompletedKept after it finished.
//   - cbs: the set of the callbacks' ids.
//   - cbdue: the pending callbacks' ids scored by their due time (Unix
//     ms), so that a dialer's tick (Due) reads only the callbacks due
//     now, not every callback. Claimed ones stay in it (a claim lapses
//     without a write). Kept in the same transaction as each change; each
//     full listing (Sync) repairs it (a callback written by a node without
//     the index, one re-published while another node changed it).
//   - cbseq: the last id given.
//   - cbclaim:<id>: the node (name|run id) whose dialer works on the
//     callback, renewed by that node every Heartbeat, lapsing Lease after
//     its last renewal: a SIGKILLed node's callback is due again then,
//     with the attempts it counted.
//   - cbver: the version of the callbacks, counted up by every change.
//   - cbfeed: the feed of changes (a Redis stream): one entry per change,
//     appended with cbver in one script (feedAppend) in the change's
//     transaction, holding the callback's id, its revision and the new
//     version (v), so that versions in the feed follow each other without
//     a hole. Trimmed to about feedKeep entries (XADD MAXLEN ~). A node
//     keeps its copy of the callbacks current by reading, every Heartbeat,
//     only the entries after the last one it read, and then only the
//     callbacks they name that it does not hold in that revision: a change
//     costs every node a few commands and one callback's bytes, however
//     many callbacks are pending. It lists every callback only when it
//     has no position in the feed (start), when Redis restarted (cbmark
//     changed), when the feed has a hole (entries trimmed before the node
//     read them, a node far behind, cbver counted up by a node of a
//     version without the feed) and every repairEvery as a repair.
//   - cbmark: a random value written once Redis holds the callbacks; a
//     node that finds another value (or none: Redis restarted empty)
//     re-publishes every callback it knows before any change (the newest
//     revision wins) and the claims it holds.
//   - cbsettle: set for Settle by a node that re-publishes callbacks;
//     while it lives no callback is claimed (ErrSettling), so that every
//     node has re-published (within a Heartbeat) before a dialer takes
//     one: a node whose copy missed the last change of a callback (one
//     completed on another node moments before Redis lost it) does not
//     get it dialled again.
//
// Every change is a WATCH/MULTI transaction on the callback, its claim and
// cbmark: two nodes claiming one callback at the same instant, exactly one
// gets it. Each node keeps a copy of every callback it has seen (renewed
// from the feed every Heartbeat), which is what it re-publishes, and what
// it lists while Redis does not answer.
type Callbacks struct {
	rdb   *redis.Client
	pfx   string
	owner string
	lease time.Duration
	every time.Duration
	// settleFor: no claim this long after a node re-published
	settleFor time.Duration
	now       func() time.Time
	log       *slog.Logger
	addr      string

	mu       sync.Mutex
	mirror   map[string]record
	claims   map[string]bool // ids this node claimed
	mark     string          // cbmark as last published or adopted
	onChange func(callbacks.Callback, string)
	// Where this node is in the feed: the id and version (v) of the last
	// entry it read, and cbmark then (listed: it has a position).
	feedID     string
	feedVer    int64
	listedMark string
	listed     bool
	// rounds counts Sync rounds; every repairRounds-th lists every
	// callback. feedKeep is the feed's length, feedPage the entries read
	// per XRANGE (tests shorten them).
	rounds       int
	repairRounds int
	feedKeep     int
	feedPage     int
}

// Feed and repair settings.
const (
	// feedKeep: the feed keeps about this many changes. A node that falls
	// further behind lists every callback.
	feedKeep = 10000
	// feedPage: entries read per XRANGE; feedPages: pages read in one
	// round before listing every callback is the cheaper way.
	feedPage  = 500
	feedPages = 10
	// repairEvery: a node lists every callback this often even when the
	// feed has no hole (completed callbacks that expired, the due index,
	// callbacks written by a node that does not feed).
	repairEvery = 10 * time.Minute
)

// record is a callback as stored in Redis.
type record struct {
	// Rev counts the changes; UID tells two callbacks given the same id
	// apart (after a Redis restart, before every node re-published).
	Rev int64  `json:"rev"`
	UID string `json:"uid"`
	callbacks.Callback
}

// CallbackOptions are a Callbacks' settings.
type CallbackOptions struct {
	// Now is the clock (default the node's, Options.Now).
	Now func() time.Time
	// Lease is how long a claim outlives its node's last renewal;
	// default the cluster's lease. Renewed every Heartbeat (at most
	// Lease/3).
	Lease  time.Duration
	Logger *slog.Logger
}

// Callbacks returns the cluster's shared callback store. Run it (renewals,
// re-publishing) while the node runs.
func (n *Node) Callbacks(o CallbackOptions) *Callbacks {
	if o.Now == nil {
		o.Now = n.now
	}
	if o.Lease == 0 {
		o.Lease = n.cfg.Lease
	}
	if o.Logger == nil {
		o.Logger = n.log
	}
	every := min(n.cfg.Heartbeat, o.Lease/3)
	return &Callbacks{rdb: n.rdb, pfx: n.cfg.KeyPrefix, owner: n.cfg.Node + "|" + n.runID, lease: o.Lease, every: every,
		settleFor: n.cfg.Settle, now: o.Now, log: o.Logger.With("component", "callbacks"), addr: n.addr,
		mirror: map[string]record{}, claims: map[string]bool{},
		repairRounds: max(1, int(repairEvery/every)), feedKeep: feedKeep, feedPage: feedPage}
}

var _ callbacks.Keeper = (*Callbacks)(nil)

// opTimeout bounds each Redis round of a store operation.
const opTimeout = 3 * time.Second

func (s *Callbacks) key(parts ...string) string { return s.pfx + strings.Join(parts, ":") }

func (s *Callbacks) unreachable(err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnreachable, s.addr, err)
}

// OnChange registers f to be told of every change this node makes (as
// callbacks.Store.OnChange): each change is told once, by the node that
// made it.
func (s *Callbacks) OnChange(f func(cb callbacks.Callback, change string)) {
	s.mu.Lock()
	s.onChange = f
	s.mu.Unlock()
}

// Run renews the claims this node holds and its copy of the callbacks
// every Heartbeat, and re-publishes them when Redis lost them, until ctx
// ends.
func (s *Callbacks) Run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("callbacks not synchronised with Redis", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sync does one round of Run: it renews this node's claims and brings
// its copy of the callbacks up to date from the feed (or, on a hole in
// the feed, a Redis restart, or every repairEvery, from a listing of every
// callback).
func (s *Callbacks) Sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := s.ensure(ctx); err != nil {
		return err
	}
	if err := s.renewClaims(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.rounds++
	repair := s.rounds%s.repairRounds == 0
	follow := s.listed && s.listedMark == s.mark && !repair
	pos, ver := s.feedID, s.feedVer
	s.mu.Unlock()
	if follow {
		hole, err := s.follow(ctx, pos, ver)
		if err != nil || !hole {
			return err
		}
		s.log.Info("callbacks' feed has a hole (trimmed before this node read it): listing every callback", "version", ver)
	}
	return s.relist(ctx)
}

// relist lists every callback (refreshing this node's copy) and takes
// the feed's end as this node's position: changes made during the
// listing are read again from the feed (the newest revision wins).
func (s *Callbacks) relist(ctx context.Context) error {
	s.mu.Lock()
	mark := s.mark
	s.mu.Unlock()
	var last *redis.XMessageSliceCmd
	var cur *redis.StringCmd
	_, _ = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		last = p.XRevRangeN(ctx, s.key("cbfeed"), "+", "-", 1)
		cur = p.Get(ctx, s.key("cbver"))
		return nil
	})
	if err := cmdErr(last, cur); err != nil {
		return s.unreachable(err)
	}
	pos, ver := "0-0", int64(0)
	if v, err := cur.Int64(); err == nil {
		ver = v
	}
	if msgs := last.Val(); len(msgs) == 1 {
		if v, ok := feedVersion(msgs[0]); ok {
			pos, ver = msgs[0].ID, v
		}
	}
	if _, err := s.list(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.feedID, s.feedVer, s.listedMark, s.listed = pos, ver, mark, true
	s.mu.Unlock()
	return nil
}

// cmdErr is the first error of cmds, a missing key (redis.Nil) not being
// one.
func cmdErr(cmds ...redis.Cmder) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

// feedVersion is an entry's version (v).
func feedVersion(m redis.XMessage) (int64, bool) {
	str, _ := m.Values["v"].(string)
	v, err := strconv.ParseInt(str, 10, 64)
	return v, err == nil
}

// follow reads the feed after entry pos (version ver) and the callbacks
// it names that this node does not hold in that revision; hole when
// entries are missing (trimmed) or too many to read: then every callback
// is to be listed.
func (s *Callbacks) follow(ctx context.Context, pos string, ver int64) (hole bool, err error) {
	var ids []string
	want := map[string]bool{}
	for page := 0; ; page++ {
		if page == feedPages {
			return true, nil // far behind: listing is cheaper
		}
		var cur *redis.StringCmd
		var rng *redis.XMessageSliceCmd
		_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			cur = p.Get(ctx, s.key("cbver"))
			rng = p.XRangeN(ctx, s.key("cbfeed"), nextID(pos), "+", int64(s.feedPage))
			return nil
		})
		if err := cmdErr(cur, rng); err != nil {
			return false, s.unreachable(err)
		}
		msgs := rng.Val()
		s.mu.Lock()
		for _, m := range msgs {
			v, ok := feedVersion(m)
			if !ok || v != ver+1 {
				s.mu.Unlock()
				return true, nil
			}
			pos, ver = m.ID, v
			id, _ := m.Values["id"].(string)
			uid, _ := m.Values["uid"].(string)
			rev, _ := strconv.ParseInt(fmt.Sprint(m.Values["rev"]), 10, 64)
			if r, ok := s.mirror[id]; ok && r.UID == uid && r.Rev >= rev {
				continue // this node made the change, or read it already
			}
			if !want[id] {
				want[id] = true
				ids = append(ids, id)
			}
		}
		s.mu.Unlock()
		if len(msgs) == s.feedPage {
			continue
		}
		// cbver is read before the entries: a version beyond the last
		// entry read means entries are missing.
		if n, err := cur.Int64(); err == nil && n > ver {
			return true, nil
		}
		break
	}
	var vals []any
	if len(ids) > 0 {
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = s.key("cb", id)
		}
		vals, err = s.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return false, s.unreachable(err)
		}
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, id := range ids {
		v, _ := vals[i].(string)
		if v == "" { // a completed callback that expired since
			delete(s.mirror, id)
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			s.log.Error("callback in Redis not readable", "callback", id, "error", err)
			continue
		}
		s.rememberLocked(r)
	}
	s.pruneLocked(now)
	s.feedID, s.feedVer = pos, ver
	return false, nil
}

// nextID is the smallest stream id after id ("ms-seq").
func nextID(id string) string {
	ms, seq, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseUint(seq, 10, 64)
	return ms + "-" + strconv.FormatUint(n+1, 10)
}

// feedAppend counts up the version (KEYS[1], cbver) and appends the
// change to the feed (KEYS[2], cbfeed, kept to about ARGV[4] entries):
// callback ARGV[1], revision ARGV[2], uid ARGV[3]. Sent whole (EVAL, not
// EVALSHA) inside a change's MULTI: Redis may have restarted without it.
const feedAppend = `
local v = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'id', ARGV[1], 'rev', ARGV[2], 'uid', ARGV[3], 'v', v)
return v
`

// feed appends the change of r to the feed in pipeline p.
func (s *Callbacks) feed(ctx context.Context, p redis.Pipeliner, r record) {
	p.Eval(ctx, feedAppend, []string{s.key("cbver"), s.key("cbfeed")}, r.ID, r.Rev, r.UID, s.feedKeep)
}

// renewClaimScript renews claim KEYS[1] if this node (ARGV[1]) holds it, takes
// it again if nobody does (Redis restarted); 0 when another node holds it.
var renewClaimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`)

func (s *Callbacks) renewClaims(ctx context.Context) error {
	s.mu.Lock()
	ids := make([]string, 0, len(s.claims))
	for id := range s.claims {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	var errs []error
	for _, id := range ids {
		held, err := renewClaimScript.Run(ctx, s.rdb, []string{s.key("cbclaim", id)}, s.owner, ms(s.lease)).Int()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if held == 0 {
			s.log.Warn("callback claimed by another node meanwhile (this node's claim had lapsed)", "callback", id)
			s.mu.Lock()
			delete(s.claims, id)
			s.mu.Unlock()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return s.unreachable(err)
	}
	return nil
}

// republishScript puts back a callback Redis lost: KEYS cb:<id>, cbs,
// cbseq, cbclaim:<id>, cbdue, cbver, cbfeed; ARGV id, value, revision, uid,
// id number, claim owner ("" none), lease ms, ttl ms (0 none), due score
// ("" not pending), the feed's length. The stored one stays when
// its revision is as new; another callback under the same id returns 0
// (the caller gives this one a new id); else 1.
var republishScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local c = cjson.decode(cur)
  if c.uid ~= ARGV[4] then
    return 0
  end
  if tonumber(c.rev) >= tonumber(ARGV[3]) then
    return 1
  end
end
if ARGV[8] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[8])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
redis.call('SADD', KEYS[2], ARGV[1])
local v = redis.call('INCR', KEYS[6])
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[10], '*', 'id', ARGV[1], 'rev', ARGV[3], 'uid', ARGV[4], 'v', v)
if ARGV[9] ~= '' then
  redis.call('ZADD', KEYS[5], ARGV[9], ARGV[1])
else
  redis.call('ZREM', KEYS[5], ARGV[1])
end
if tonumber(redis.call('GET', KEYS[3]) or '0') < tonumber(ARGV[5]) then
  redis.call('SET', KEYS[3], ARGV[5])
end
if ARGV[6] ~= '' then
  redis.call('SET', KEYS[4], ARGV[6], 'NX', 'PX', ARGV[7])
end
return 1
`)

// ensure re-publishes what this node knows when Redis does not hold the
// mark this node last saw (Redis restarted, or the node is new).
func (s *Callbacks) ensure(ctx context.Context) error {
	mark, err := s.rdb.Get(ctx, s.key("cbmark")).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return s.unreachable(err)
	}
	s.mu.Lock()
	same := mark != "" && mark == s.mark
	s.mu.Unlock()
	if same {
		return nil
	}
	if err := s.republish(ctx); err != nil {
		return err
	}
	if err := s.rdb.SetNX(ctx, s.key("cbmark"), randomID(), 0).Err(); err != nil {
		return s.unreachable(err)
	}
	mark, err = s.rdb.Get(ctx, s.key("cbmark")).Result()
	if err != nil {
		return s.unreachable(err)
	}
	s.mu.Lock()
	s.mark = mark
	s.mu.Unlock()
	return nil
}

func (s *Callbacks) republish(ctx context.Context) error {
	s.mu.Lock()
	recs := make([]record, 0, len(s.mirror))
	for _, r := range s.mirror {
		recs = append(recs, r)
	}
	claims := make(map[string]bool, len(s.claims))
	for id := range s.claims {
		claims[id] = true
	}
	s.mu.Unlock()
	if len(recs) > 0 {
		s.log.Info("re-publishing the callbacks this node knows (Redis does not hold them)", "callbacks", len(recs))
		// No claim until every node re-published: another node's copy
		// may hold a newer revision (a callback it completed that this
		// node's copy has pending).
		if err := s.rdb.Set(ctx, s.key("cbsettle"), s.owner, s.settleFor).Err(); err != nil {
			return s.unreachable(err)
		}
	}
	now := s.now()
	for _, r := range recs {
		ttl := s.ttl(r, now)
		if ttl < 0 {
			continue
		}
		owner := ""
		if claims[r.ID] {
			owner = s.owner
		}
		for range 5 {
			num, _ := strconv.ParseInt(strings.TrimPrefix(r.ID, "cb-"), 10, 64)
			data, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("cluster: callback %s: %w", r.ID, err)
			}
			score := ""
			if r.Status == callbacks.Pending {
				score = strconv.FormatInt(r.Due.UnixMilli(), 10)
			}
			ok, err := republishScript.Run(ctx, s.rdb,
				[]string{s.key("cb", r.ID), s.key("cbs"), s.key("cbseq"), s.key("cbclaim", r.ID), s.key("cbdue"), s.key("cbver"), s.key("cbfeed")},
				r.ID, data, r.Rev, r.UID, num, owner, ms(s.lease), ms(ttl), score, s.feedKeep).Int()
			if err != nil {
				return s.unreachable(err)
			}
			if ok == 1 {
				break
			}
			// Another callback took this id meanwhile: a new id.
			old := r.ID
			seq, err := s.rdb.Incr(ctx, s.key("cbseq")).Result()
			if err != nil {
				return s.unreachable(err)
			}
			r.ID = "cb-" + strconv.FormatInt(seq, 10)
			s.mu.Lock()
			delete(s.mirror, old)
			s.mirror[r.ID] = r
			if s.claims[old] {
				delete(s.claims, old)
				s.claims[r.ID] = true
			}
			s.mu.Unlock()
			s.log.Warn("callback re-published under a new id (its id was given again meanwhile)", "callback", old, "new_id", r.ID)
		}
	}
	return nil
}

// ttl is how long Redis keeps r: 0 for ever, below 0 not any more (a
// completed callback past CompletedKept).
func (s *Callbacks) ttl(r record, now time.Time) time.Duration {
	if r.Status != callbacks.Completed {
		return 0
	}
	left := callbacks.CompletedKept - now.Sub(r.Finished)
	if left < time.Millisecond {
		return -1
	}
	return left
}

// remember puts r in this node's copy unless it has a newer revision.
func (s *Callbacks) rememberLocked(r record) {
	if cur, ok := s.mirror[r.ID]; ok && cur.UID == r.UID && cur.Rev > r.Rev {
		return
	}
	s.mirror[r.ID] = r
}

// errUnchanged: the change is already made (another node made it); it
// is neither written again nor told again.
var errUnchanged = errors.New("cluster: callback unchanged")

// errResync: Redis lost the callbacks during a change; re-publish, retry.
var errResync = errors.New("cluster: callbacks to re-publish")

// Add stores a callback, giving it an id (and Created, Due and Arrived
// when zero).
func (s *Callbacks) Add(cb callbacks.Callback) (callbacks.Callback, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	now := s.now()
	if cb.Created.IsZero() {
		cb.Created = now
	}
	if cb.Due.IsZero() {
		cb.Due = now
	}
	if cb.Arrived.IsZero() {
		cb.Arrived = cb.Due
	}
	cb.Claimed, cb.Status = false, callbacks.Pending
	r := record{Rev: 1, UID: randomID(), Callback: cb}
	for range 10 {
		if err := s.ensure(ctx); err != nil {
			return callbacks.Callback{}, err
		}
		seq, err := s.rdb.Incr(ctx, s.key("cbseq")).Result()
		if err != nil {
			return callbacks.Callback{}, s.unreachable(err)
		}
		r.ID = "cb-" + strconv.FormatInt(seq, 10)
		data, err := json.Marshal(r)
		if err != nil {
			return callbacks.Callback{}, fmt.Errorf("cluster: callback: %w", err)
		}
		k := s.key("cb", r.ID)
		err = s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			if err := s.checkMark(ctx, tx); err != nil {
				return err
			}
			if n, err := tx.Exists(ctx, k).Result(); err != nil || n != 0 {
				return cmpErr(err, redis.TxFailedErr) // taken: another id
			}
			_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, k, data, 0)
				p.SAdd(ctx, s.key("cbs"), r.ID)
				p.ZAdd(ctx, s.key("cbdue"), redis.Z{Score: dueScore(r.Due), Member: r.ID})
				s.feed(ctx, p, r)
				return nil
			})
			return err
		}, k, s.key("cbmark"))
		switch {
		case errors.Is(err, redis.TxFailedErr), errors.Is(err, errResync):
			continue
		case err != nil:
			return callbacks.Callback{}, s.unreachable(err)
		}
		s.changed(r, "added", 0)
		return r.Callback, nil
	}
	return callbacks.Callback{}, errors.New("cluster: callback not added: Redis kept changing")
}

func cmpErr(err, or error) error {
	if err != nil {
		return err
	}
	return or
}

// checkMark fails with errResync when Redis does not hold the mark this
// node adopted (it restarted since): the change waits for re-publishing.
func (s *Callbacks) checkMark(ctx context.Context, tx *redis.Tx) error {
	mark, err := tx.Get(ctx, s.key("cbmark")).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if mark == "" || mark != s.mark {
		s.mark = "" // ensure re-publishes
		return errResync
	}
	return nil
}

// claimOp is what a change does to the callback's claim.
type claimOp int

const (
	claimKeep claimOp = iota
	claimTake
	claimDrop
)

// change applies f to callback id in one transaction. f sees the record
// and the claim's holder ("" none) and returns the change's name and
// what to do with the claim, or an error to return as is.
func (s *Callbacks) change(id string, f func(r *record, holder string) (string, claimOp, error)) (callbacks.Callback, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	k, ck, sk := s.key("cb", id), s.key("cbclaim", id), s.key("cbsettle")
	for range 10 {
		if err := s.ensure(ctx); err != nil {
			return callbacks.Callback{}, err
		}
		var (
			r    record
			name string
			op   claimOp
			ferr error
		)
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			if err := s.checkMark(ctx, tx); err != nil {
				return err
			}
			vals, err := tx.MGet(ctx, k, ck, sk).Result()
			if err != nil {
				return err
			}
			v, _ := vals[0].(string)
			holder, _ := vals[1].(string)
			settling := vals[2] != nil
			if v == "" {
				ferr = callbacks.ErrNoCallback
				return nil
			}
			r = record{}
			if err := json.Unmarshal([]byte(v), &r); err != nil {
				return fmt.Errorf("callback %s: %w", id, err)
			}
			if name, op, ferr = f(&r, holder); ferr != nil {
				return nil
			}
			if op == claimTake && settling {
				ferr = fmt.Errorf("%w: callbacks being re-published after a Redis restart", ErrSettling)
				return nil
			}
			r.Rev++
			r.Claimed = op == claimTake || (op == claimKeep && holder != "")
			data, err := json.Marshal(r)
			if err != nil {
				return err
			}
			ttl := s.ttl(r, s.now())
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, k, data, max(ttl, 0))
				if r.Status == callbacks.Pending {
					p.ZAdd(ctx, s.key("cbdue"), redis.Z{Score: dueScore(r.Due), Member: r.ID})
				} else {
					p.ZRem(ctx, s.key("cbdue"), r.ID)
				}
				s.feed(ctx, p, r)
				switch op {
				case claimTake:
					p.Set(ctx, ck, s.owner, s.lease)
				case claimDrop:
					p.Del(ctx, ck)
				}
				return nil
			})
			return err
		}, k, ck, sk, s.key("cbmark"))
		switch {
		case errors.Is(err, redis.TxFailedErr), errors.Is(err, errResync):
			continue
		case err != nil:
			return callbacks.Callback{}, s.unreachable(err)
		case errors.Is(ferr, errUnchanged):
			return r.Callback, nil
		case ferr != nil:
			return callbacks.Callback{}, ferr
		}
		s.changed(r, name, op)
		return r.Callback, nil
	}
	return callbacks.Callback{}, fmt.Errorf("cluster: callback %s not changed: Redis kept changing", id)
}

// changed notes a change made: in this node's copy and its claims, and to
// OnChange.
func (s *Callbacks) changed(r record, name string, op claimOp) {
	s.mu.Lock()
	s.rememberLocked(r)
	switch op {
	case claimTake:
		s.claims[r.ID] = true
	case claimDrop:
		delete(s.claims, r.ID)
	}
	f := s.onChange
	s.mu.Unlock()
	if f != nil {
		f(r.Callback, name)
	}
}

// pending is the check every change but Dialing makes: the callback is
// pending and no other node works on it.
func (s *Callbacks) pending(r *record, holder string) error {
	if r.Status != callbacks.Pending || (holder != "" && holder != s.owner) {
		return callbacks.ErrNoCallback
	}
	return nil
}

// Claim marks a pending callback as being worked on by this node, so no
// other node's dialer takes it, for Lease renewed every Heartbeat.
func (s *Callbacks) Claim(id string) (callbacks.Callback, error) {
	return s.change(id, func(r *record, holder string) (string, claimOp, error) {
		if r.Status != callbacks.Pending || holder != "" {
			return "", claimKeep, callbacks.ErrNoCallback
		}
		return "claimed", claimTake, nil
	})
}

// Dialing counts an attempt of a callback this node claimed.
func (s *Callbacks) Dialing(id, callID string) (callbacks.Callback, error) {
	return s.change(id, func(r *record, holder string) (string, claimOp, error) {
		if r.Status != callbacks.Pending {
			return "", claimKeep, callbacks.ErrNoCallback
		}
		if holder != s.owner {
			return "", claimKeep, callbacks.ErrNotClaimed
		}
		r.Attempts++
		r.LastAttempt = s.now()
		r.LastCallID = callID
		return "dialing", claimKeep, nil
	})
}

// settle makes a change that ends this node's work on a callback
// (Complete, Retry, Fail). When this node holds the claim and Redis does
// not answer, it tries again for up to half the lease; should Redis still
// not answer, the claim is no longer renewed, so that it lapses and the
// callback is dialled again (by any node) rather than held for ever.
func (s *Callbacks) settle(id string, f func(r *record, holder string) (string, claimOp, error)) error {
	s.mu.Lock()
	held := s.claims[id]
	s.mu.Unlock()
	deadline := time.Now().Add(s.lease / 2)
	for {
		_, err := s.change(id, f)
		if err == nil || !held || !errors.Is(err, ErrUnreachable) {
			return err
		}
		if time.Now().After(deadline) {
			s.mu.Lock()
			delete(s.claims, id)
			s.mu.Unlock()
			s.log.Warn("callback's claim left to lapse: Redis did not answer", "callback", id, "lease", s.lease, "error", err)
			return err
		}
		time.Sleep(s.every)
	}
}

// Complete marks a callback placed; it stays listed CompletedKept.
func (s *Callbacks) Complete(id string) error {
	return s.settle(id, func(r *record, holder string) (string, claimOp, error) {
		if err := s.pending(r, holder); err != nil {
			return "", claimKeep, err
		}
		r.Status, r.Finished, r.LastResult = callbacks.Completed, s.now(), "answered"
		return "completed", claimDrop, nil
	})
}

// Retry releases a callback (claimed by this node, or by none) to be
// tried again at at.
func (s *Callbacks) Retry(id string, at time.Time, result string) error {
	return s.settle(id, func(r *record, holder string) (string, claimOp, error) {
		if err := s.pending(r, holder); err != nil {
			return "", claimKeep, err
		}
		if holder == "" && r.Due.Equal(at) && (result == "" || result == r.LastResult) {
			// Postponed by another node's dialer to the same time.
			return "", claimKeep, errUnchanged
		}
		r.Due = at
		if result != "" {
			r.LastResult = result
		}
		return "retry", claimDrop, nil
	})
}

// Fail gives a callback up with a reason; it stays listed.
func (s *Callbacks) Fail(id, reason string) error {
	return s.settle(id, func(r *record, holder string) (string, claimOp, error) {
		if err := s.pending(r, holder); err != nil {
			return "", claimKeep, err
		}
		r.Status, r.Finished, r.LastResult = callbacks.Failed, s.now(), reason
		return "failed", claimDrop, nil
	})
}

// List returns every callback by due time, as Redis holds them; while
// Redis does not answer, this node's copy (logged).
func (s *Callbacks) List() []callbacks.Callback {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	out, err := s.list(ctx)
	if err != nil {
		s.log.Warn("callbacks listed from this node's copy: Redis did not answer", "error", err)
		return s.fromMirror()
	}
	return out
}

func (s *Callbacks) fromMirror() []callbacks.Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]callbacks.Callback, 0, len(s.mirror))
	for _, r := range s.mirror {
		cb := r.Callback
		cb.Claimed = s.claims[r.ID]
		out = append(out, cb)
	}
	sortByDue(out)
	return out
}

func sortByDue(out []callbacks.Callback) {
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Due.Equal(out[j].Due) {
			return out[i].Due.Before(out[j].Due)
		}
		return out[i].ID < out[j].ID
	})
}

// list reads every callback from Redis (and refreshes this node's copy).
func (s *Callbacks) list(ctx context.Context) ([]callbacks.Callback, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	ids, err := s.rdb.SMembers(ctx, s.key("cbs")).Result()
	if err != nil {
		return nil, s.unreachable(err)
	}
	if len(ids) == 0 {
		return []callbacks.Callback{}, nil
	}
	keys := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		keys = append(keys, s.key("cb", id))
	}
	for _, id := range ids {
		keys = append(keys, s.key("cbclaim", id))
	}
	var mget *redis.SliceCmd
	var indexed *redis.ZSliceCmd
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		mget = p.MGet(ctx, keys...)
		indexed = p.ZRangeWithScores(ctx, s.key("cbdue"), 0, -1)
		return nil
	}); err != nil {
		return nil, s.unreachable(err)
	}
	vals := mget.Val()
	out := make([]callbacks.Callback, 0, len(ids))
	var gone []any
	var recs []record
	for i, id := range ids {
		v, _ := vals[i].(string)
		if v == "" { // a completed callback that expired
			gone = append(gone, id)
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			s.log.Error("callback in Redis not readable", "callback", id, "error", err)
			continue
		}
		r.Claimed = vals[len(ids)+i] != nil
		recs = append(recs, r)
		out = append(out, r.Callback)
	}
	if len(gone) > 0 {
		_ = s.rdb.SRem(ctx, s.key("cbs"), gone...).Err()
	}
	s.repairIndex(ctx, recs, indexed.Val())
	now := s.now()
	s.mu.Lock()
	for _, r := range recs {
		s.rememberLocked(r)
	}
	s.pruneLocked(now)
	s.mu.Unlock()
	sortByDue(out)
	return out, nil
}

// pruneLocked drops from this node's copy the completed callbacks Redis
// no longer keeps.
func (s *Callbacks) pruneLocked(now time.Time) {
	for id, r := range s.mirror {
		if s.ttl(r, now) < 0 {
			delete(s.mirror, id)
		}
	}
}

// dueScore is a callback's score in cbdue: its due time in Unix ms
// (rounded down, so that a callback due at now is never left out).
func dueScore(due time.Time) float64 { return float64(due.UnixMilli()) }

// repairIndexScript sets one callback's entry in cbdue from what list
// read, unless the callback changed since: KEYS cb:<id>, cbdue; ARGV id,
// revision read, score ("" not pending: no entry).
var repairIndexScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
local c = cjson.decode(cur)
if tonumber(c.rev) ~= tonumber(ARGV[2]) then
  return 0
end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
`)

// repairIndex makes cbdue hold exactly the pending callbacks of recs
// (every callback Redis holds) with their due times; normally nothing is
// to do. Errors are left for the next round.
func (s *Callbacks) repairIndex(ctx context.Context, recs []record, indexed []redis.Z) {
	scores := make(map[string]float64, len(indexed))
	for _, z := range indexed {
		id, _ := z.Member.(string)
		scores[id] = z.Score
	}
	fix := func(id string, rev int64, score string) {
		if err := repairIndexScript.Run(ctx, s.rdb, []string{s.key("cb", id), s.key("cbdue")}, id, rev, score).Err(); err != nil {
			s.log.Warn("due index of callbacks not repaired", "callback", id, "error", err)
		}
	}
	for _, r := range recs {
		score, in := scores[r.ID]
		delete(scores, r.ID)
		switch pending := r.Status == callbacks.Pending; {
		case pending && (!in || score != dueScore(r.Due)):
			fix(r.ID, r.Rev, strconv.FormatInt(r.Due.UnixMilli(), 10))
		case !pending && in:
			fix(r.ID, r.Rev, "")
		}
	}
	for id := range scores { // no callback (expired, unreadable)
		fix(id, -1, "")
	}
}

// Due returns the pending callbacks no node works on due at now, by their
// place in the queue (Arrived). It reads only the callbacks the due index
// (cbdue) lists up to now; while Redis does not answer, this node's copy
// (logged).
func (s *Callbacks) Due(now time.Time) []callbacks.Callback {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	all, err := s.due(ctx, now)
	if err != nil {
		s.log.Warn("due callbacks taken from this node's copy: Redis did not answer", "error", err)
		all = s.fromMirror()
	}
	var out []callbacks.Callback
	for _, cb := range all {
		if cb.Status == callbacks.Pending && !cb.Claimed && !cb.Due.After(now) {
			out = append(out, cb)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Arrived.Equal(out[j].Arrived) {
			return out[i].Arrived.Before(out[j].Arrived)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// due reads the callbacks cbdue lists as due at now (and refreshes this
// node's copy of them).
func (s *Callbacks) due(ctx context.Context, now time.Time) ([]callbacks.Callback, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	//lint:ignore SA1019 ZRANGEBYSCORE works on every Redis (ZRANGE BYSCORE needs 6.2)
	ids, err := s.rdb.ZRangeByScore(ctx, s.key("cbdue"), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10)}).Result()
	if err != nil {
		return nil, s.unreachable(err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		keys = append(keys, s.key("cb", id))
	}
	for _, id := range ids {
		keys = append(keys, s.key("cbclaim", id))
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, s.unreachable(err)
	}
	out := make([]callbacks.Callback, 0, len(ids))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, id := range ids {
		v, _ := vals[i].(string)
		if v == "" {
			continue // gone; the next listing repairs the index
		}
		var r record
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			s.log.Error("callback in Redis not readable", "callback", id, "error", err)
			continue
		}
		r.Claimed = vals[len(ids)+i] != nil
		s.rememberLocked(r)
		out = append(out, r.Callback)
	}
	return out, nil
}
