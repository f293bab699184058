package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"hotline/internal/redistest"
	"hotline/routing/callbacks"
)

// changes records what OnChange told.
type changes struct {
	mu  sync.Mutex
	got []string
}

func (c *changes) note(cb callbacks.Callback, change string) {
	c.mu.Lock()
	c.got = append(c.got, cb.ID+" "+change)
	c.mu.Unlock()
}

func (c *changes) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

func find(list []callbacks.Callback, id string) (callbacks.Callback, bool) {
	for _, cb := range list {
		if cb.ID == id {
			return cb, true
		}
	}
	return callbacks.Callback{}, false
}

// TestCallbacksShared: two nodes' stores on one Redis list the same
// callbacks, and each change is told (to the records) once, by the node
// that made it.
func TestCallbacksShared(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	sa, sb := a.Callbacks(CallbackOptions{}), b.Callbacks(CallbackOptions{})
	var ca, cbch changes
	sa.OnChange(ca.note)
	sb.OnChange(cbch.note)

	due := time.Now().Add(-time.Minute)
	added, err := sa.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000001", Queue: "support", Priority: 2, Due: due})
	if err != nil {
		t.Fatal(err)
	}
	later, err := sb.Add(callbacks.Callback{Kind: callbacks.FollowUp, Number: "+84912000002", Queue: "support", Due: due.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if added.ID == later.ID {
		t.Fatalf("two callbacks got one id %s", added.ID)
	}
	la, lb := sa.List(), sb.List()
	if len(la) != 2 || fmt.Sprint(la) != fmt.Sprint(lb) {
		t.Fatalf("the nodes list different callbacks:\na: %+v\nb: %+v", la, lb)
	}
	if la[0].ID != added.ID || la[0].Number != "+84912000001" || la[0].Priority != 2 || la[0].Status != callbacks.Pending {
		t.Fatalf("first listed %+v, want %s pending", la[0], added.ID)
	}
	if d := sb.Due(time.Now()); len(d) != 1 || d[0].ID != added.ID {
		t.Fatalf("b's due callbacks: %+v, want only %s", d, added.ID)
	}

	// b's dialer works on a's callback: a sees it claimed, counted, done.
	if _, err := sb.Claim(added.ID); err != nil {
		t.Fatal(err)
	}
	if cb, _ := find(sa.List(), added.ID); !cb.Claimed {
		t.Fatalf("a lists %+v, want claimed", cb)
	}
	if d := sa.Due(time.Now()); len(d) != 0 {
		t.Fatalf("a's due callbacks while b works on one: %+v", d)
	}
	if _, err := sa.Claim(added.ID); !errors.Is(err, callbacks.ErrNoCallback) {
		t.Fatalf("a claiming b's callback: %v, want ErrNoCallback", err)
	}
	if _, err := sa.Dialing(added.ID, "x"); !errors.Is(err, callbacks.ErrNotClaimed) {
		t.Fatalf("a dialing b's callback: %v, want ErrNotClaimed", err)
	}
	if err := sa.Retry(added.ID, time.Now(), ""); !errors.Is(err, callbacks.ErrNoCallback) {
		t.Fatalf("a releasing b's callback: %v, want ErrNoCallback", err)
	}
	if cb, err := sb.Dialing(added.ID, "call-1"); err != nil || cb.Attempts != 1 {
		t.Fatalf("dialing: %+v %v", cb, err)
	}
	if err := sb.Retry(added.ID, due, "busy"); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.Claim(added.ID); err != nil {
		t.Fatalf("a claiming the released callback: %v", err)
	}
	if cb, err := sa.Dialing(added.ID, "call-2"); err != nil || cb.Attempts != 2 || cb.LastResult != "busy" {
		t.Fatalf("second attempt: %+v %v", cb, err)
	}
	if err := sa.Complete(added.ID); err != nil {
		t.Fatal(err)
	}
	// Two dialers postpone the same callback to the same time (the
	// calling hours): one change, told once.
	opens := due.Add(24 * time.Hour)
	if err := sa.Retry(later.ID, opens, ""); err != nil {
		t.Fatal(err)
	}
	if err := sb.Retry(later.ID, opens, ""); err != nil {
		t.Fatal(err)
	}
	if cb, _ := find(sb.List(), later.ID); !cb.Due.Equal(opens) {
		t.Fatalf("postponed callback %+v, want due %v", cb, opens)
	}
	if err := sb.Fail(later.ID, "invalid_number"); err != nil {
		t.Fatal(err)
	}
	lb = sb.List()
	if cb, _ := find(lb, added.ID); cb.Status != callbacks.Completed || cb.Attempts != 2 || cb.LastCallID != "call-2" || cb.Claimed {
		t.Fatalf("b lists %+v, want completed after 2 attempts", cb)
	}
	if cb, _ := find(lb, later.ID); cb.Status != callbacks.Failed || cb.LastResult != "invalid_number" {
		t.Fatalf("b lists %+v, want failed", cb)
	}
	if fmt.Sprint(sa.List()) != fmt.Sprint(lb) {
		t.Fatalf("the nodes list different callbacks:\na: %+v\nb: %+v", sa.List(), lb)
	}
	wantA := []string{added.ID + " added", added.ID + " claimed", added.ID + " dialing", added.ID + " completed", later.ID + " retry"}
	wantB := []string{later.ID + " added", added.ID + " claimed", added.ID + " dialing", added.ID + " retry", later.ID + " failed"}
	if !slices.Equal(ca.list(), wantA) || !slices.Equal(cbch.list(), wantB) {
		t.Fatalf("changes told:\na: %v, want %v\nb: %v, want %v", ca.list(), wantA, cbch.list(), wantB)
	}
}

// TestCallbackClaimRace: two nodes claim the same due callback at the same
// instant, 100 times: exactly one wins each time.
func TestCallbackClaimRace(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	stores := []*Callbacks{a.Callbacks(CallbackOptions{}), b.Callbacks(CallbackOptions{})}
	for i := range 100 {
		cb, err := stores[i%2].Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+8491200" + fmt.Sprint(1000+i), Queue: "support"})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for j, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if len(s.Due(time.Now())) == 0 {
					errs[j] = callbacks.ErrNoCallback // the other one was quicker
					return
				}
				_, errs[j] = s.Claim(cb.ID)
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, callbacks.ErrNoCallback):
				t.Fatalf("repetition %d: %v", i, err)
			}
		}
		if won != 1 {
			t.Fatalf("repetition %d: %d nodes claimed %s (%v), want exactly 1", i, won, cb.ID, errs)
		}
		// Settle it so that the next repetition's is the only one due.
		for j, s := range stores {
			if errs[j] == nil {
				if err := s.Complete(cb.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// TestCallbackLeaseHandsOver: a node that dies mid-dial (it renews its
// claim no more) leaves its callback to another node once the lease
// lapsed, with the attempt it counted; a running node keeps its claim.
func TestCallbackLeaseHandsOver(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	lease := 600 * time.Millisecond
	dead := a.Callbacks(CallbackOptions{Lease: lease}) // never runs: as if SIGKILLed
	sb := b.Callbacks(CallbackOptions{Lease: lease})
	cb, err := dead.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000003", Queue: "support"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Claim(cb.ID); err != nil {
		t.Fatal(err)
	}
	claimed := time.Now()
	if _, err := dead.Dialing(cb.ID, "call-dead"); err != nil {
		t.Fatal(err)
	}
	if d := sb.Due(time.Now()); len(d) != 0 {
		t.Fatalf("due while the dead node's lease runs: %+v", d)
	}
	eventually(t, "the callback due again", func() error {
		if d := sb.Due(time.Now()); len(d) != 1 || d[0].ID != cb.ID {
			return fmt.Errorf("due: %+v", d)
		}
		return nil
	})
	if since := time.Since(claimed); since < lease {
		t.Fatalf("handed over after %s, before the lease %s", since, lease)
	}
	if _, err := sb.Claim(cb.ID); err != nil {
		t.Fatal(err)
	}
	got, err := sb.Dialing(cb.ID, "call-b")
	if err != nil || got.Attempts != 2 || got.LastCallID != "call-b" {
		t.Fatalf("b's attempt: %+v %v, want the 2nd (the dead node's counted)", got, err)
	}
	// The node coming back to its call finds it is not its own any more.
	if _, err := dead.Dialing(cb.ID, "call-dead-2"); !errors.Is(err, callbacks.ErrNotClaimed) {
		t.Fatalf("dead node dialing again: %v, want ErrNotClaimed", err)
	}

	// A running node renews its claim past the lease.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sb.Run(ctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(3 * lease)
	if d := dead.Due(time.Now()); len(d) != 0 {
		t.Fatalf("due while a running node works on it: %+v", d)
	}
	if _, err := dead.Claim(cb.ID); !errors.Is(err, callbacks.ErrNoCallback) {
		t.Fatalf("claiming a running node's callback: %v, want ErrNoCallback", err)
	}
	if err := sb.Complete(cb.ID); err != nil {
		t.Fatal(err)
	}
}

// TestCallbacksRedisRestart: Redis restarts empty; the nodes re-publish
// every callback they know (with its attempts and claim), none is lost,
// and a callback given an id another node's held is re-published under
// a new one.
func TestCallbacksRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	sa, sb := a.Callbacks(CallbackOptions{}), b.Callbacks(CallbackOptions{})
	ctx := context.Background()
	cb1, err := sa.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000011", Queue: "support"})
	if err != nil {
		t.Fatal(err)
	}
	cb2, err := sb.Add(callbacks.Callback{Kind: callbacks.FollowUp, Number: "+84912000012", Queue: "support", Due: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sa.Claim(cb1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.Dialing(cb1.ID, "call-1"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Callbacks{sa, sb} {
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Only b knows cb3.
	cb3, err := sb.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000013", Queue: "support"})
	if err != nil {
		t.Fatal(err)
	}

	srv.Restart(t) // back, empty
	// a adds first: it re-publishes what it knows (cb1, cb2), then its
	// new callback takes the next id, cb3's.
	cb4, err := sa.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000014", Queue: "support"})
	if err != nil {
		t.Fatal(err)
	}
	if cb4.ID != cb3.ID {
		t.Fatalf("new callback %s, want %s (the id b's unpublished one has)", cb4.ID, cb3.ID)
	}
	if err := sb.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	list := sb.List()
	if fmt.Sprint(list) != fmt.Sprint(sa.List()) {
		t.Fatalf("the nodes list different callbacks:\na: %+v\nb: %+v", sa.List(), list)
	}
	numbers := map[string]callbacks.Callback{}
	for _, cb := range list {
		numbers[cb.Number] = cb
	}
	if len(list) != 4 || len(numbers) != 4 {
		t.Fatalf("after the restart: %+v, want the 4 callbacks with 4 ids", list)
	}
	if got := numbers[cb1.Number]; got.ID != cb1.ID || got.Attempts != 1 || !got.Claimed || got.LastCallID != "call-1" {
		t.Fatalf("a's claimed callback after the restart: %+v", got)
	}
	if got := numbers[cb2.Number]; got.ID != cb2.ID || !got.Due.Equal(cb2.Due) {
		t.Fatalf("b's callback after the restart: %+v", got)
	}
	if got := numbers[cb4.Number]; got.ID != cb4.ID {
		t.Fatalf("a's new callback: %+v", got)
	}
	if got := numbers[cb3.Number]; got.ID == cb3.ID || got.Status != callbacks.Pending {
		t.Fatalf("b's unpublished callback after the restart: %+v, want it under a new id", got)
	}
	// The claim came back with a: b cannot take cb1; a goes on.
	if _, err := sb.Claim(cb1.ID); !errors.Is(err, callbacks.ErrNoCallback) {
		t.Fatalf("b claiming a's callback after the restart: %v", err)
	}
	if err := sa.Complete(cb1.ID); err != nil {
		t.Fatal(err)
	}
	// New ids do not collide with any re-published one.
	cb5, err := sb.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000015", Queue: "support"})
	if err != nil {
		t.Fatal(err)
	}
	if _, taken := find(list, cb5.ID); taken {
		t.Fatalf("new callback got the taken id %s", cb5.ID)
	}
}

// TestCallbackClaimLapsesWhenNotSettled: Redis stops answering (the
// process is stopped, its data kept) while a node releases the callback
// it dials; the release fails after trying for half the lease, and the
// node stops renewing its claim: once Redis answers again the callback is
// due again (not held for ever by a claim nobody works on).
func TestCallbackClaimLapsesWhenNotSettled(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	lease := 900 * time.Millisecond
	sa, sb := a.Callbacks(CallbackOptions{Lease: lease}), b.Callbacks(CallbackOptions{Lease: lease})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sa.Run(ctx) }()
	defer func() { cancel(); <-done }()
	cb, err := sa.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000021", Queue: "support"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sa.Claim(cb.ID); err != nil {
		t.Fatal(err)
	}
	pid := srv.PID()
	if err := pauseProcess(pid); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = resumeProcess(pid)
		}
	}()
	if err := sa.Retry(cb.ID, time.Now(), ""); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Retry with Redis stopped: %v, want ErrUnreachable", err)
	}
	if err := resumeProcess(pid); err != nil {
		t.Fatal(err)
	}
	resumed = true
	eventually(t, "the callback due again", func() error {
		if d := sb.Due(time.Now()); len(d) != 1 || d[0].ID != cb.ID {
			return fmt.Errorf("due: %+v", d)
		}
		return nil
	})
	time.Sleep(3 * lease) // a renewing node would have taken it back
	if d := sb.Due(time.Now()); len(d) != 1 {
		t.Fatalf("due after 3 leases: %+v, want the callback", d)
	}
	if _, err := sb.Claim(cb.ID); err != nil {
		t.Fatal(err)
	}
}

// redisStats resets Redis's statistics, runs f, and returns how many
// bytes Redis sent its clients meanwhile and the calls per command
// (INFO stats, INFO commandstats).
func redisStats(t *testing.T, n *Node, f func()) (sent int64, calls map[string]int64) {
	t.Helper()
	ctx := context.Background()
	if err := n.rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	f()
	info, err := n.rdb.Info(ctx, "stats", "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls = map[string]int64{}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_net_output_bytes:"); ok {
			sent, _ = strconv.ParseInt(v, 10, 64)
		}
		if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
			name, fields, _ := strings.Cut(rest, ":")
			for _, f := range strings.Split(fields, ",") {
				if v, ok := strings.CutPrefix(f, "calls="); ok {
					calls[name], _ = strconv.ParseInt(v, 10, 64)
				}
			}
		}
	}
	if sent == 0 {
		t.Fatalf("no total_net_output_bytes in INFO:\n%s", info)
	}
	return sent, calls
}

// TestCallbackDueReadsOnlyDue: with 2,000 callbacks not due yet and 3
// due, a dialer's tick (Due) returns the 3 and reads only them from Redis
// (the due index): a few kB sent, no listing of every callback, while
// listing every callback sends hundreds of kB.
func TestCallbackDueReadsOnlyDue(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := join(t, srv, "a")
	sa := a.Callbacks(CallbackOptions{})
	now := time.Now()
	for i := range 2000 {
		if _, err := sa.Add(callbacks.Callback{Kind: callbacks.FollowUp, Number: fmt.Sprintf("+8491%07d", i), Queue: "support",
			Reason: "low rating", Due: now.Add(time.Hour + time.Duration(i)*time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for i := range 3 {
		cb, err := sa.Add(callbacks.Callback{Kind: callbacks.Queued, Number: fmt.Sprintf("+8490%07d", i), Queue: "support",
			Due: now.Add(-time.Duration(i+1) * time.Minute), Arrived: now.Add(time.Duration(i-10) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, cb.ID)
	}
	var due []callbacks.Callback
	sent, calls := redisStats(t, a, func() { due = sa.Due(now) })
	var got []string
	for _, cb := range due {
		got = append(got, cb.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("due %v, want %v (by arrival)", got, want)
	}
	t.Logf("Due with 2003 callbacks, 3 due: Redis sent %d bytes; commands %v", sent, calls)
	if sent > 16<<10 {
		t.Errorf("Due made Redis send %d bytes, want only the 3 due callbacks read (under 16 kB)", sent)
	}
	if calls["smembers"] != 0 || calls["mget"] != 1 {
		t.Errorf("Due ran %v, want one MGET of the due callbacks and no SMEMBERS (listing every id)", calls)
	}
	listed, _ := redisStats(t, a, func() {
		if n := len(sa.List()); n != 2003 {
			t.Errorf("listed %d callbacks, want 2003", n)
		}
	})
	t.Logf("List of 2003 callbacks: Redis sent %d bytes", listed)
	if listed < 200<<10 {
		t.Errorf("listing every callback sent only %d bytes: the comparison shows nothing", listed)
	}

	// Claimed ones stay out while claimed; a retry to later leaves the
	// due set, one to now enters it; completed ones leave it.
	if _, err := sa.Claim(want[0]); err != nil {
		t.Fatal(err)
	}
	if err := sa.Retry(want[1], now.Add(2*time.Hour), "busy"); err != nil {
		t.Fatal(err)
	}
	if d := sa.Due(now); len(d) != 1 || d[0].ID != want[2] {
		t.Fatalf("due %+v, want only %s", d, want[2])
	}
	if err := sa.Complete(want[0]); err != nil {
		t.Fatal(err)
	}
	if err := sa.Retry(want[1], now, ""); err != nil {
		t.Fatal(err)
	}
	if d := sa.Due(now); len(d) != 2 || d[0].ID != want[1] || d[1].ID != want[2] {
		t.Fatalf("due %+v, want %s and %s", d, want[1], want[2])
	}
	n, err := a.rdb.ZCard(context.Background(), sa.key("cbdue")).Result()
	if err != nil || n != 2002 {
		t.Fatalf("due index holds %d (%v), want the 2002 pending callbacks", n, err)
	}
}

// TestCallbackDueIndexRepaired: a pending callback Redis holds without
// its entry in the due index (written by a node without the index) is due
// after the next listing of every callback (a node's first round, and
// every repairEvery), and an entry left for a callback no longer pending
// is removed.
func TestCallbackDueIndexRepaired(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := join(t, srv, "a")
	sa := a.Callbacks(CallbackOptions{})
	ctx := context.Background()
	now := time.Now()
	cb, err := sa.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000009", Queue: "support", Due: now.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	done, err := sa.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000010", Queue: "support", Due: now.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sa.Fail(done.ID, "invalid_number"); err != nil {
		t.Fatal(err)
	}
	idx := sa.key("cbdue")
	if err := a.rdb.ZRem(ctx, idx, cb.ID).Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.rdb.ZAdd(ctx, idx, redis.Z{Score: 0, Member: done.ID}, redis.Z{Score: 0, Member: "cb-999"}).Err(); err != nil {
		t.Fatal(err)
	}
	if d := sa.Due(now); len(d) != 0 {
		t.Fatalf("due %+v before the repair, want none (the index does not list it)", d)
	}
	if err := sa.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if d := sa.Due(now); len(d) != 1 || d[0].ID != cb.ID {
		t.Fatalf("due %+v after the listing, want %s", d, cb.ID)
	}
	ids, err := a.rdb.ZRange(ctx, idx, 0, -1).Result()
	if err != nil || !slices.Equal(ids, []string{cb.ID}) {
		t.Fatalf("due index %v (%v), want only %s", ids, err, cb.ID)
	}
}

// cbCommands counts the commands a node's client sends on the callback
// keys (a go-redis hook): the heartbeat's own commands are not counted.
type cbCommands struct {
	pfx  string
	mu   sync.Mutex
	sent []string
}

func countCallbackCommands(n *Node) *cbCommands {
	c := &cbCommands{pfx: n.cfg.KeyPrefix + "cb"}
	n.rdb.AddHook(c)
	return c
}

func (c *cbCommands) note(cmds ...redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cmd := range cmds {
		for _, a := range cmd.Args()[1:] {
			if k, ok := a.(string); ok && strings.HasPrefix(k, c.pfx) {
				c.sent = append(c.sent, cmd.Name())
				break
			}
		}
	}
}

func (c *cbCommands) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *cbCommands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.note(cmd); return next(ctx, cmd) }
}

func (c *cbCommands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.note(cmds...); return next(ctx, cmds) }
}

// during returns the commands sent while f ran.
func (c *cbCommands) during(f func()) []string {
	c.mu.Lock()
	c.sent = nil
	c.mu.Unlock()
	f()
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sent)
}

// syncCost runs one Sync of s (on node n) and returns the bytes Redis
// sent meanwhile (every client: the heartbeats' few bytes included) and
// the commands s sent on the callback keys.
func syncCost(t *testing.T, n *Node, c *cbCommands, s *Callbacks) (sent int64, cmds []string) {
	t.Helper()
	sent, _ = redisStats(t, n, func() {
		cmds = c.during(func() {
			if err := s.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	})
	return sent, cmds
}

func listedAll(cmds []string) bool { return slices.Contains(cmds, "smembers") }

func countOf(cmds []string, name string) int {
	n := 0
	for _, c := range cmds {
		if c == name {
			n++
		}
	}
	return n
}

// TestCallbackFeedOneChange: with 2,000 pending callbacks, another node's
// change reaches a node's copy through the feed: its next round sends 4
// commands and reads a few hundred bytes (the changed callback), not
// every callback; a round without change reads nothing but the version;
// the node's own changes are not read back; the feed stays short; every
// repairEvery rounds it lists every callback anyway.
func TestCallbackFeedOneChange(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	sa, sb := a.Callbacks(CallbackOptions{}), b.Callbacks(CallbackOptions{})
	sa.feedKeep = 300
	ca, cb := countCallbackCommands(a), countCallbackCommands(b)
	now := time.Now()
	var added []callbacks.Callback
	for i := range 2000 {
		c, err := sa.Add(callbacks.Callback{Kind: callbacks.FollowUp, Number: fmt.Sprintf("+8491%07d", i), Queue: "support",
			Reason: "low rating", Due: now.Add(time.Hour + time.Duration(i)*time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, c)
	}
	ctx := context.Background()
	if n, err := a.rdb.XLen(ctx, sa.key("cbfeed")).Result(); err != nil || n > 300+100 {
		t.Fatalf("feed holds %d entries (%v) after 2000 changes, want about 300 (feedKeep)", n, err)
	}
	if sent, cmds := syncCost(t, b, cb, sb); sent < 200<<10 || !listedAll(cmds) {
		t.Fatalf("b's first round sent %d bytes (%v), want every callback listed", sent, cmds)
	}
	if sent, cmds := syncCost(t, b, cb, sb); sent > 2<<10 || len(cmds) > 4 {
		t.Errorf("b's round with no change: %d bytes, commands %v; want the version and an empty feed read", sent, cmds)
	}

	if err := sa.Sync(ctx); err != nil { // a's first round: its listing
		t.Fatal(err)
	}
	// One change of each kind on a: b's next round reads it, and only it.
	later := now.Add(3 * time.Hour).Truncate(time.Second)
	changes := []struct {
		name  string
		do    func() (string, error)
		check func(callbacks.Callback) bool
	}{
		{"retry", func() (string, error) { return added[1999].ID, sa.Retry(added[1999].ID, later, "busy") },
			func(c callbacks.Callback) bool { return c.Due.Equal(later) && c.LastResult == "busy" }},
		{"add", func() (string, error) {
			c, err := sa.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84900000001", Queue: "support", Due: now})
			return c.ID, err
		}, func(c callbacks.Callback) bool { return c.Number == "+84900000001" && c.Status == callbacks.Pending }},
		{"claim", func() (string, error) { _, err := sa.Claim(added[5].ID); return added[5].ID, err },
			func(c callbacks.Callback) bool { return c.Claimed }},
		{"dialing", func() (string, error) { _, err := sa.Dialing(added[5].ID, "call-5"); return added[5].ID, err },
			func(c callbacks.Callback) bool { return c.Attempts == 1 && c.LastCallID == "call-5" }},
		{"complete", func() (string, error) { return added[5].ID, sa.Complete(added[5].ID) },
			func(c callbacks.Callback) bool { return c.Status == callbacks.Completed && c.Attempts == 1 }},
		{"fail", func() (string, error) { return added[7].ID, sa.Fail(added[7].ID, "invalid_number") },
			func(c callbacks.Callback) bool {
				return c.Status == callbacks.Failed && c.LastResult == "invalid_number"
			}},
	}
	for _, ch := range changes {
		id, err := ch.do()
		if err != nil {
			t.Fatalf("%s: %v", ch.name, err)
		}
		sent, cmds := syncCost(t, b, cb, sb)
		t.Logf("b's round after a's %s of 1 of 2001 callbacks: Redis sent %d bytes; b's callback commands %v", ch.name, sent, cmds)
		if sent > 4<<10 || len(cmds) > 4 || listedAll(cmds) {
			t.Errorf("b's round after a's %s: %d bytes, commands %v; want at most 4 commands and 4 kB (the one callback read)", ch.name, sent, cmds)
		}
		r, ok := sb.mirror[id]
		if !ok || !ch.check(r.Callback) {
			t.Errorf("b's copy after a's %s has %+v (%v)", ch.name, r.Callback, ok)
		}
		// a reads the feed entry of its own change, not the callback.
		if cmds := ca.during(func() {
			if err := sa.Sync(ctx); err != nil {
				t.Fatal(err)
			}
		}); slices.Contains(cmds, "mget") || listedAll(cmds) {
			t.Errorf("a's round after its own %s read callbacks: %v", ch.name, cmds)
		}
	}

	// Every repairRounds rounds it lists anyway.
	sb.repairRounds = 5
	sb.rounds = 0
	full := 0
	for range 10 {
		if _, cmds := syncCost(t, b, cb, sb); listedAll(cmds) {
			full++
		}
	}
	if full != 2 {
		t.Errorf("%d full listings in 10 rounds without change, want 2 (every 5th)", full)
	}
}

// TestCallbackFeedHoleRelists: a node that missed feed entries (trimmed
// before it read them) lists every callback and has every change; so
// does a node that starts again (no position in the feed), which then
// follows the feed.
func TestCallbackFeedHoleRelists(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	sa, sb := a.Callbacks(CallbackOptions{}), b.Callbacks(CallbackOptions{})
	cb := countCallbackCommands(b)
	ctx := context.Background()
	now := time.Now()
	var added []callbacks.Callback
	for i := range 50 {
		c, err := sa.Add(callbacks.Callback{Kind: callbacks.FollowUp, Number: fmt.Sprintf("+8491%07d", i), Queue: "support", Due: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, c)
	}
	if _, cmds := syncCost(t, b, cb, sb); !listedAll(cmds) {
		t.Fatalf("b's first round %v, want a listing", cmds)
	}
	later := now.Add(2 * time.Hour).Truncate(time.Second)
	for _, c := range added[:3] {
		if err := sa.Retry(c.ID, later, "no_answer"); err != nil {
			t.Fatal(err)
		}
	}
	// Only the last of the three entries is left.
	if err := a.rdb.XTrimMaxLen(ctx, sa.key("cbfeed"), 1).Err(); err != nil {
		t.Fatal(err)
	}
	if _, cmds := syncCost(t, b, cb, sb); !listedAll(cmds) {
		t.Fatalf("b's round after the trim %v, want every callback listed (a hole in the feed)", cmds)
	}
	for _, c := range added[:3] {
		if r := sb.mirror[c.ID]; !r.Due.Equal(later) || r.LastResult != "no_answer" {
			t.Errorf("b's copy of %s after the hole: %+v, want due %v", c.ID, r.Callback, later)
		}
	}
	// Follows the feed again.
	if err := sa.Fail(added[4].ID, "invalid_number"); err != nil {
		t.Fatal(err)
	}
	if _, cmds := syncCost(t, b, cb, sb); listedAll(cmds) || sb.mirror[added[4].ID].Status != callbacks.Failed {
		t.Errorf("b's round after one change: %v, copy %+v; want the feed read, the callback failed", cmds, sb.mirror[added[4].ID].Callback)
	}

	// Behind by several pages of the feed: b reads them all; behind by
	// more than feedPages pages: b lists every callback instead.
	sb.feedPage = 5
	for i := range 4*5 + 2 {
		if err := sa.Retry(added[10+i].ID, later.Add(time.Duration(i)*time.Second), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, cmds := syncCost(t, b, cb, sb); listedAll(cmds) || countOf(cmds, "xrange") != 5 || countOf(cmds, "mget") != 1 {
		t.Errorf("b's round 22 changes behind (pages of 5): %v, want 5 feed pages read and one MGET", cmds)
	}
	for i := range feedPages*5 + 1 {
		if err := sa.Retry(added[10+i%30].ID, later.Add(time.Duration(i)*time.Minute), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, cmds := syncCost(t, b, cb, sb); !listedAll(cmds) || countOf(cmds, "xrange") != feedPages {
		t.Errorf("b's round %d changes behind: %v, want %d feed pages read, then every callback listed", feedPages*5+1, cmds, feedPages)
	}
	for i := range 30 {
		want := later.Add(time.Duration(i+30*((feedPages*5-i)/30)) * time.Minute)
		if r := sb.mirror[added[10+i].ID]; !r.Due.Equal(want) {
			t.Errorf("b's copy of %s: due %v, want %v", added[10+i].ID, r.Due, want)
		}
	}

	// b starts again: a new store lists every callback, then follows.
	sb2 := b.Callbacks(CallbackOptions{})
	if _, cmds := syncCost(t, b, cb, sb2); !listedAll(cmds) || len(sb2.mirror) != 50 || sb2.mirror[added[4].ID].Status != callbacks.Failed {
		t.Fatalf("restarted b's first round %v, %d callbacks; want every one listed", cmds, len(sb2.mirror))
	}
	if err := sa.Complete(added[9].ID); err != nil {
		t.Fatal(err)
	}
	if _, cmds := syncCost(t, b, cb, sb2); listedAll(cmds) || sb2.mirror[added[9].ID].Status != callbacks.Completed {
		t.Errorf("restarted b's round after one change: %v, copy %+v", cmds, sb2.mirror[added[9].ID].Callback)
	}
}

// TestCallbackFeedCarriesToRestart: what a node learnt from the feed is
// what it re-publishes when Redis restarts empty and the node that made
// the changes is gone: a callback completed on node a is not due again
// (it is dialled exactly once), one a postponed keeps its new time, one a
// added is not lost, and none is listed twice.
func TestCallbackFeedCarriesToRestart(t *testing.T) {
	srv := redistest.Start(t)
	a, stopA := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	sa, sb := a.Callbacks(CallbackOptions{}), b.Callbacks(CallbackOptions{})
	ctx := context.Background()
	now := time.Now()
	done, err := sb.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000031", Queue: "support", Due: now.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := sb.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000032", Queue: "support", Due: now.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// a dials one to the end, postpones the other, takes a new one.
	if _, err := sa.Claim(done.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.Dialing(done.ID, "call-a"); err != nil {
		t.Fatal(err)
	}
	if err := sa.Complete(done.ID); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour).Truncate(time.Second)
	if err := sa.Retry(moved.ID, later, "busy"); err != nil {
		t.Fatal(err)
	}
	fresh, err := sa.Add(callbacks.Callback{Kind: callbacks.FollowUp, Number: "+84912000033", Queue: "support", Due: later})
	if err != nil {
		t.Fatal(err)
	}
	cb := countCallbackCommands(b)
	if _, cmds := syncCost(t, b, cb, sb); listedAll(cmds) {
		t.Fatalf("b's round %v, want the feed read", cmds)
	}
	stopA() // a is gone: only b can re-publish
	srv.Restart(t)
	if err := sb.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	list := b.Callbacks(CallbackOptions{}).List() // as Redis holds them now
	if len(list) != 3 {
		t.Fatalf("after the restart Redis lists %+v, want the 3 callbacks", list)
	}
	if got, _ := find(list, done.ID); got.Status != callbacks.Completed || got.Attempts != 1 {
		t.Errorf("a's completed callback after the restart: %+v", got)
	}
	if got, _ := find(list, moved.ID); got.Status != callbacks.Pending || !got.Due.Equal(later) || got.LastResult != "busy" {
		t.Errorf("a's postponed callback after the restart: %+v", got)
	}
	if got, _ := find(list, fresh.ID); got.Number != "+84912000033" || got.Status != callbacks.Pending {
		t.Errorf("a's new callback after the restart: %+v", got)
	}
	if d := sb.Due(now.Add(time.Minute)); len(d) != 0 {
		t.Errorf("due after the restart: %+v, want none (completed once, the other postponed)", d)
	}
}

// TestCallbackNotDialledTwiceAcrossRestart: node a completes a callback
// moments before Redis restarts empty, before node b read that change
// (b's copy has it pending). b re-publishes first: no node may claim it
// until every node re-published (Settle), and once a re-published its
// newer revision, it is completed, never due again: dialled exactly once.
func TestCallbackNotDialledTwiceAcrossRestart(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := join(t, srv, "a")
	b, _ := join(t, srv, "b")
	sa, sb := a.Callbacks(CallbackOptions{}), b.Callbacks(CallbackOptions{})
	ctx := context.Background()
	now := time.Now()
	cb, err := sa.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000041", Queue: "support", Due: now.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.Claim(cb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.Dialing(cb.ID, "call-a"); err != nil {
		t.Fatal(err)
	}
	if err := sa.Complete(cb.ID); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t) // before b's next round
	if err := sb.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// b re-published the callback as its copy has it: pending.
	if d := sb.Due(now); len(d) != 1 || d[0].ID != cb.ID {
		t.Fatalf("due after b re-published: %+v, want b's stale copy of %s", d, cb.ID)
	}
	if _, err := sb.Claim(cb.ID); !errors.Is(err, ErrSettling) {
		t.Fatalf("b claiming it while the nodes re-publish: %v, want ErrSettling", err)
	}
	if err := sa.Sync(ctx); err != nil { // a's round: its newer revision
		t.Fatal(err)
	}
	time.Sleep(testConfig("", "").Settle + 100*time.Millisecond)
	if d := sb.Due(now); len(d) != 0 {
		t.Fatalf("due after the nodes re-published: %+v, want none", d)
	}
	if _, err := sb.Claim(cb.ID); !errors.Is(err, callbacks.ErrNoCallback) {
		t.Fatalf("b claiming the completed callback: %v, want ErrNoCallback", err)
	}
	if got, _ := find(sb.List(), cb.ID); got.Status != callbacks.Completed || got.Attempts != 1 {
		t.Fatalf("after the restart: %+v, want completed after 1 attempt", got)
	}
	// Claims work again once settled.
	fresh, err := sb.Add(callbacks.Callback{Kind: callbacks.Queued, Number: "+84912000042", Queue: "support", Due: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Claim(fresh.ID); err != nil {
		t.Fatalf("claim after settling: %v", err)
	}
}
