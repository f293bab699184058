package acd

import (
	"cmp"
	"hotline/routing/config"
	"math/bits"
	"slices"
	"time"
)

// Indexes of the ACD, so that neither picking an agent for a call nor
// finding the call for an agent looks at every agent or every waiting
// call:
//
//   - each queue keeps its available members in groups of agents with the
//     same skills, and each group in the orders the strategies need: heaps
//     by idle time, calls taken or talk time, and for top-down and
//     round-robin a set of positions. A pick looks at the groups whose
//     skills meet the call's needs only, each from its best end up to its
//     first eligible agent;
//   - each queue counts its available agents by skill and level, so that a
//     call needing a skill nobody available has is answered at once;
//   - each queue keeps its waiting calls (not those being offered) in
//     classes of calls that need the same skills, each in the order of
//     the queue's list; the call for an agent is the best eligible call at
//     the heads of the classes whose needs the agent's skills meet.
//
// The queues' avail sets and buckets, which the indexes repeat, stay the
// reference (snapshots, positions, tests).

// ixHeap is a binary min-heap that tells its items their index (moved),
// so that any item can be removed or re-sorted.
type ixHeap[T any] struct {
	items []T
	less  func(x, y T) bool
	moved func(x T, i int) // i is -1 once x has left the heap
}

func (h *ixHeap[T]) push(x T) {
	h.items = append(h.items, x)
	h.up(len(h.items) - 1)
}

func (h *ixHeap[T]) remove(i int) {
	n := len(h.items) - 1
	x := h.items[i]
	if i != n {
		h.items[i] = h.items[n]
	}
	var zero T
	h.items[n] = zero
	h.items = h.items[:n]
	if i != n {
		h.fix(i)
	}
	h.moved(x, -1)
}

func (h *ixHeap[T]) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *ixHeap[T]) up(i int) {
	x := h.items[i]
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(x, h.items[p]) {
			break
		}
		h.items[i] = h.items[p]
		h.moved(h.items[i], i)
		i = p
	}
	h.items[i] = x
	h.moved(x, i)
}

func (h *ixHeap[T]) down(i0 int) bool {
	i, n := i0, len(h.items)
	x := h.items[i]
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			m = r
		}
		if !h.less(h.items[m], x) {
			break
		}
		h.items[i] = h.items[m]
		h.moved(h.items[i], i)
		i = m
	}
	h.items[i] = x
	h.moved(x, i)
	return i > i0
}

// walk visits the items in order until visit returns false; visit must
// not change the heap. front is scratch space for the frontier.
func (h *ixHeap[T]) walk(front *[]int32, visit func(T) bool) {
	n := len(h.items)
	if n == 0 || !visit(h.items[0]) {
		return
	}
	// The frontier is a min-heap of the indexes whose parents were visited.
	f := (*front)[:0]
	lessAt := func(x, y int32) bool { return h.less(h.items[x], h.items[y]) }
	push := func(i int32) {
		f = append(f, i)
		for j := len(f) - 1; j > 0; {
			p := (j - 1) / 2
			if !lessAt(f[j], f[p]) {
				break
			}
			f[j], f[p] = f[p], f[j]
			j = p
		}
	}
	children := func(i int32) {
		if l := 2*i + 1; int(l) < n {
			push(l)
			if int(l)+1 < n {
				push(l + 1)
			}
		}
	}
	children(0)
	for len(f) > 0 {
		i := f[0]
		last := len(f) - 1
		f[0] = f[last]
		f = f[:last]
		for j := 0; ; {
			l := 2*j + 1
			if l >= len(f) {
				break
			}
			m := l
			if l+1 < len(f) && lessAt(f[l+1], f[l]) {
				m = l + 1
			}
			if !lessAt(f[m], f[j]) {
				break
			}
			f[j], f[m] = f[m], f[j]
			j = m
		}
		if !visit(h.items[i]) {
			break
		}
		children(i)
	}
	*front = f[:0]
}

// ---- available agents ----

// agentOrder is an order of available agents: a strategy offers a call to
// the first eligible agent in its order.
type agentOrder uint8

const (
	orderIdle    agentOrder = iota // longest-idle: idle since (wall clock), name
	orderCalls                     // fewest-calls: calls, idle since, name
	orderTalk                      // least-talk-time: talk time, idle since, name
	orderIdleTie                   // other queues' agents under top-down, round-robin: idle since, name
	numOrders
)

func agentBefore(o agentOrder, x, y *acdAgent) bool {
	switch o {
	case orderIdle:
		if kx, ky := x.idleSince.UnixNano(), y.idleSince.UnixNano(); kx != ky {
			return kx < ky
		}
		return x.name < y.name
	case orderCalls:
		if x.calls != y.calls {
			return x.calls < y.calls
		}
	case orderTalk:
		if x.talk != y.talk {
			return x.talk < y.talk
		}
	}
	return idleTieBefore(x, y)
}

// strategyOrder is the order a strategy picks agents by, if it has one.
func strategyOrder(strategy string) (agentOrder, bool) {
	switch strategy {
	case config.StrategyLongestIdle:
		return orderIdle, true
	case config.StrategyFewestCalls:
		return orderCalls, true
	case config.StrategyLeastTalkTime:
		return orderTalk, true
	}
	return 0, false
}

// positional reports whether a strategy ranks a queue's members by their
// position in it.
func positional(strategy string) bool {
	return strategy == config.StrategyTopDown || strategy == config.StrategyRoundRobin
}

// topLevel caps the skill levels the queues count agents by (levels are
// 1-5; a higher one counts as topLevel).
const topLevel = 7

func levelSlot(l int8) int {
	return int(min(l, topLevel))
}

// maxGroups bounds the groups of agents with the same skills a queue has:
// the members of the less common skill sets share a last, mixed group.
const maxGroups = 32

// agentIndex holds a queue's available agents, by group of agents with
// the same skills, in the orders its calls are picked by.
type agentIndex struct {
	groups []*agentGroup
	levels [][topLevel + 1]int32 // available agents by skill id and level
}

// agentGroup holds the available members of a queue that have the same
// skill levels (mixed: any).
type agentGroup struct {
	skills []int8 // the members' levels by skill id
	mixed  bool
	avail  []*acdAgent
	orders [numOrders]*ixHeap[availEntry] // nil when no strategy needs it
	pos    *posSet                        // by member position; nil unless top-down or round-robin
}

// meets reports whether the group's agents may have every skill level of
// needs (a mixed group's must each be checked).
func (g *agentGroup) meets(needs []skillNeed) bool {
	if g.mixed {
		return true
	}
	for _, n := range needs {
		if n.level > 0 && (n.id >= len(g.skills) || g.skills[n.id] < n.level) {
			return false
		}
	}
	return true
}

// buildIndexes sets up the indexes of every queue for the strategies of
// the calls it may list: its own, and those of queues widening into it.
func (a *ACD) buildIndexes() {
	need := make([][numOrders]bool, len(a.queues))
	for i, q := range a.queues {
		q.classByKey = map[string]*callClass{}
		if o, ok := strategyOrder(q.def.Strategy); ok {
			need[i][o] = true
		}
		for _, st := range q.esc {
			for _, w := range st.widen {
				wi := slices.Index(a.queues, w)
				if o, ok := strategyOrder(q.def.Strategy); ok {
					need[wi][o] = true
				} else if positional(q.def.Strategy) && w != q {
					need[wi][orderIdleTie] = true
				}
			}
		}
	}
	for _, ag := range a.agents {
		ag.hpos = make([][numOrders]int32, len(ag.queues))
		ag.grp = make([]*agentGroup, len(ag.queues))
		ag.gslot = make([]int, len(ag.queues))
	}
	for i, q := range a.queues {
		// One group per skill set, the most common first; the rest mixed.
		type profile struct {
			key     string
			members []*acdAgent
		}
		var profiles []*profile
		byKey := map[string]*profile{}
		for _, m := range q.members {
			key := string(skillsKey(m.skills))
			p := byKey[key]
			if p == nil {
				p = &profile{key: key}
				byKey[key] = p
				profiles = append(profiles, p)
			}
			p.members = append(p.members, m)
		}
		slices.SortStableFunc(profiles, func(x, y *profile) int { return len(y.members) - len(x.members) })
		for pi, p := range profiles {
			if pi > maxGroups-1 && len(profiles) > maxGroups {
				q.ix.groups[len(q.ix.groups)-1].join(p.members, q)
				continue
			}
			g := &agentGroup{skills: p.members[0].skills, mixed: pi == maxGroups-1 && len(profiles) > maxGroups}
			for o := range numOrders {
				if need[i][o] {
					g.orders[o] = newAgentHeap(o)
				}
			}
			if positional(q.def.Strategy) {
				g.pos = newPosSet(len(q.members))
			}
			q.ix.groups = append(q.ix.groups, g)
			g.join(p.members, q)
		}
	}
}

func (g *agentGroup) join(members []*acdAgent, q *acdQueue) {
	for _, m := range members {
		k := slices.Index(m.queues, q)
		m.grp[k], m.gslot[k] = g, -1
		for o := range m.hpos[k] {
			m.hpos[k][o] = -1
		}
	}
}

// skillsKey is an agent's skill levels without the trailing zeros.
func skillsKey(skills []int8) []byte {
	n := len(skills)
	for n > 0 && skills[n-1] == 0 {
		n--
	}
	out := make([]byte, n)
	for i, l := range skills[:n] {
		out[i] = byte(l)
	}
	return out
}

func newAgentHeap(o agentOrder) *ixHeap[availEntry] {
	return &ixHeap[availEntry]{
		less:  func(x, y availEntry) bool { return agentBefore(o, x.a, y.a) },
		moved: func(e availEntry, i int) { e.a.hpos[e.k][o] = int32(i) },
	}
}

// indexAgent adds (in) or removes an agent from the indexes of its k-th
// queue q.
func (q *acdQueue) indexAgent(ag *acdAgent, k int, in bool) {
	g := ag.grp[k]
	if in {
		ag.gslot[k] = len(g.avail)
		g.avail = append(g.avail, ag)
	} else {
		i, last := ag.gslot[k], g.avail[len(g.avail)-1]
		g.avail[i] = last
		last.gslot[slices.Index(last.queues, q)] = i
		g.avail[len(g.avail)-1] = nil
		g.avail = g.avail[:len(g.avail)-1]
		ag.gslot[k] = -1
	}
	for o, h := range g.orders {
		switch {
		case h == nil:
		case in:
			h.push(availEntry{ag, k})
		default:
			h.remove(int(ag.hpos[k][o]))
		}
	}
	if g.pos != nil {
		g.pos.put(ag.pos[k], in)
	}
	d := int32(-1)
	if in {
		d = 1
	}
	for id, l := range ag.skills {
		if l <= 0 {
			continue
		}
		for len(q.ix.levels) <= id {
			q.ix.levels = append(q.ix.levels, [topLevel + 1]int32{})
		}
		q.ix.levels[id][levelSlot(l)] += d
	}
}

// reorderAgent re-sorts an available agent whose order keys changed.
func (a *ACD) reorderAgent(ag *acdAgent) {
	if !ag.avail {
		return
	}
	for k, g := range ag.grp {
		for o, h := range g.orders {
			if h != nil {
				h.fix(int(ag.hpos[k][o]))
			}
		}
	}
}

// mayServe is false when no available agent of q has every skill level
// the needs ask for (true does not mean that one is eligible).
func (q *acdQueue) mayServe(needs []skillNeed) bool {
	for _, n := range needs {
		if n.level <= 0 {
			continue
		}
		if n.id >= len(q.ix.levels) {
			return false
		}
		lv := &q.ix.levels[n.id]
		found := false
		for s := levelSlot(n.level); s <= topLevel; s++ {
			if lv[s] > 0 {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// posSet is a set of member positions with a summary of its non-empty
// words, for finding the next position in a set quickly.
type posSet struct {
	words, sum []uint64
}

func newPosSet(n int) *posSet {
	w := (n + 63) / 64
	return &posSet{words: make([]uint64, w), sum: make([]uint64, (w+63)/64)}
}

func (s *posSet) put(p int, in bool) {
	w := p / 64
	if in {
		s.words[w] |= 1 << (p % 64)
		s.sum[w/64] |= 1 << (w % 64)
		return
	}
	s.words[w] &^= 1 << (p % 64)
	if s.words[w] == 0 {
		s.sum[w/64] &^= 1 << (w % 64)
	}
}

// next is the first position in the set from p on, or -1.
func (s *posSet) next(p int) int {
	w := p / 64
	if w >= len(s.words) {
		return -1
	}
	if x := s.words[w] &^ (1<<(p%64) - 1); x != 0 {
		return w*64 + bits.TrailingZeros64(x)
	}
	w++
	for sw := w / 64; sw < len(s.sum); sw++ {
		x := s.sum[sw]
		if sw == w/64 {
			x &^= 1<<(w%64) - 1
		}
		if x != 0 {
			w = sw*64 + bits.TrailingZeros64(x)
			return w*64 + bits.TrailingZeros64(s.words[w])
		}
	}
	return -1
}

// pickAgentsLocked chooses, by the call's queue strategy, the agents to
// offer c to (several only for ring-all). The slice is reused.
//
// The choice is that of a scan of every available agent of c's queues for
// the eligible ones: ring-all takes them all (by name), random one at
// random, the other strategies the first by their order (top-down and
// round-robin: c's queue's members by position, then the other queues'
// agents by idle time). The scan is avoided by looking at the groups of
// agents whose skills meet c's needs only, in the order of the strategy,
// up to the first eligible agent. c's queue is the first of c.lists.
func (a *ACD) pickAgentsLocked(c *QueuedCall, now time.Time) []*acdAgent {
	a.scratch = a.scratch[:0]
	a.epoch++
	if c.only != nil {
		// A call for one agent, who need not answer the call's queue.
		if a.eligibleLocked(c.only, c, now) {
			a.scratch = append(a.scratch, c.only)
		}
		return a.scratch
	}
	if c.pref != nil && now.Before(c.prefUntil) {
		// Nobody else is eligible.
		if ag := c.pref; ag.avail && a.eligibleLocked(ag, c, now) {
			for _, lq := range c.lists {
				if ag.posIn(lq) >= 0 {
					a.scratch = append(a.scratch, ag)
					break
				}
			}
		}
		return a.scratch
	}
	var best *acdAgent
	switch strategy := c.queue.def.Strategy; {
	case strategy == config.StrategyRingAll:
		a.eachCandidate(c, func(ag *acdAgent) {
			if a.eligibleLocked(ag, c, now) {
				a.scratch = append(a.scratch, ag)
			}
		})
		slices.SortFunc(a.scratch, func(x, y *acdAgent) int { return cmp.Compare(x.name, y.name) })
		return a.scratch
	case strategy == config.StrategyRandom:
		best = a.pickRandomLocked(c, now)
	case positional(strategy):
		best = a.pickPositionalLocked(c, now)
	default:
		o, _ := strategyOrder(strategy)
		best = a.pickOrderedLocked(c, o, nil, now)
	}
	if best != nil {
		a.scratch = append(a.scratch, best)
	}
	return a.scratch
}

// eachCandidate calls f once for each available agent of c's queues
// whose group meets c's skill needs.
func (a *ACD) eachCandidate(c *QueuedCall, f func(ag *acdAgent)) {
	for _, lq := range c.lists {
		if !lq.mayServe(c.needs) {
			continue
		}
		for _, g := range lq.ix.groups {
			if !g.meets(c.needs) {
				continue
			}
			for _, ag := range g.avail {
				if ag.mark != a.epoch {
					ag.mark = a.epoch
					f(ag)
				}
			}
		}
	}
}

// pickOrderedLocked is the first eligible agent in order o among the
// available agents of c's queues but skip, or nil. Agents marked with the
// epoch are passed over.
func (a *ACD) pickOrderedLocked(c *QueuedCall, o agentOrder, skip *acdQueue, now time.Time) *acdAgent {
	var best *acdAgent
	visit := func(ag *acdAgent) bool {
		if best != nil && !agentBefore(o, ag, best) {
			return false
		}
		if ag.mark == a.epoch {
			return true
		}
		ag.mark = a.epoch
		if a.eligibleLocked(ag, c, now) {
			best = ag
			return false
		}
		return true
	}
	for _, lq := range c.lists {
		if lq == skip || !lq.mayServe(c.needs) {
			continue
		}
		for _, g := range lq.ix.groups {
			if len(g.avail) == 0 || !g.meets(c.needs) {
				continue
			}
			if h := g.orders[o]; h != nil {
				h.walk(&a.front, func(e availEntry) bool { return visit(e.a) })
				continue
			}
			// Not indexed in this order (no strategy of the
			// configuration needs it): look at every agent.
			for _, ag := range g.avail {
				if best == nil || agentBefore(o, ag, best) {
					visit(ag)
				}
			}
		}
	}
	return best
}

// pickPositionalLocked serves top-down and round-robin: the first
// eligible member of c's queue by position (round-robin: after the last
// one offered a call, wrapping around), else the longest idle eligible
// agent of the other queues listing c.
func (a *ACD) pickPositionalLocked(c *QueuedCall, now time.Time) *acdAgent {
	q := c.queue
	start, m := 0, len(q.members)
	if q.def.Strategy == config.StrategyRoundRobin {
		start = q.rrLast + 1
	}
	if q.mayServe(c.needs) {
		for _, span := range [2][2]int{{start, m}, {0, min(start, m)}} {
			best := span[1]
			for _, g := range q.ix.groups {
				if g.pos == nil || len(g.avail) == 0 || !g.meets(c.needs) {
					continue
				}
				for p := g.pos.next(span[0]); p >= 0 && p < best; p = g.pos.next(p + 1) {
					ag := q.members[p]
					ag.mark = a.epoch
					if a.eligibleLocked(ag, c, now) {
						best = p
						break
					}
				}
			}
			if best < span[1] {
				return q.members[best]
			}
		}
	}
	if len(c.lists) == 1 {
		return nil
	}
	// No member of q is eligible: the best is another queue's agent.
	return a.pickOrderedLocked(c, orderIdleTie, q, now)
}

// pickRandomLocked returns an eligible agent of c's queues at random,
// every one as likely: it draws among the agents whose group meets c's
// needs, through the first of c's queues they belong to, until one is
// eligible, and after randomTries misses draws among the eligible ones
// (found by looking at every candidate).
func (a *ACD) pickRandomLocked(c *QueuedCall, now time.Time) *acdAgent {
	total := 0
	for _, lq := range c.lists {
		if lq.mayServe(c.needs) {
			for _, g := range lq.ix.groups {
				if g.meets(c.needs) {
					total += len(g.avail)
				}
			}
		}
	}
	if total == 0 {
		return nil
	}
	for range randomTries {
		if ag := a.drawLocked(c, a.rnd.IntN(total)); ag != nil && a.eligibleLocked(ag, c, now) {
			return ag
		}
	}
	var best *acdAgent
	n := 0
	a.eachCandidate(c, func(ag *acdAgent) {
		if a.eligibleLocked(ag, c, now) {
			n++
			if a.rnd.IntN(n) == 0 {
				best = ag
			}
		}
	})
	return best
}

// randomTries is how many draws the random strategy makes before it looks
// at every candidate.
const randomTries = 8

// drawLocked is the r-th candidate agent of pickRandomLocked's count, or
// nil when that agent is counted again in an earlier queue.
func (a *ACD) drawLocked(c *QueuedCall, r int) *acdAgent {
	for j, lq := range c.lists {
		if !lq.mayServe(c.needs) {
			continue
		}
		for _, g := range lq.ix.groups {
			if !g.meets(c.needs) {
				continue
			}
			if r >= len(g.avail) {
				r -= len(g.avail)
				continue
			}
			ag := g.avail[r]
			for _, earlier := range c.lists[:j] {
				if earlier.mayServe(c.needs) && ag.posIn(earlier) >= 0 && ag.grp[slices.Index(ag.queues, earlier)].meets(c.needs) {
					return nil
				}
			}
			return ag
		}
	}
	return nil
}

// ---- waiting calls ----

// callClass holds the waiting calls listed in a queue that require the
// same skills.
type callClass struct {
	needs []skillNeed
	key   string
	at    int // index in the queue's classes
	n     int // calls
	calls callList
}

// keepClasses is how many classes a queue keeps when they are empty.
const keepClasses = 16

// needsKey encodes a set of skill needs canonically into buf; sorted is
// scratch space.
func needsKey(buf []byte, needs, sorted []skillNeed) ([]byte, []skillNeed) {
	sorted = append(sorted[:0], needs...)
	slices.SortFunc(sorted, func(x, y skillNeed) int {
		if x.id != y.id {
			return x.id - y.id
		}
		return int(x.level) - int(y.level)
	})
	buf = buf[:0]
	for _, n := range sorted {
		v := uint(n.id)
		for v >= 0x80 {
			buf = append(buf, byte(v)|0x80)
			v >>= 7
		}
		buf = append(buf, byte(v), byte(n.level))
	}
	return buf, sorted
}

// indexCallLocked adds a waiting call to the classes of the queues
// listing it, where it is not yet.
func (a *ACD) indexCallLocked(c *QueuedCall) {
	if c.state != callWaiting {
		return
	}
	if c.cls == nil {
		c.cls = c.clsBuf[:0]
	}
	for len(c.cls) < len(c.lists) {
		c.cls = append(c.cls, nil)
	}
	keyed := false
	for j, q := range c.lists {
		if c.cls[j] != nil {
			continue
		}
		if !keyed {
			a.keyBuf, a.needBuf = needsKey(a.keyBuf, c.needs, a.needBuf)
			keyed = true
		}
		cl := q.classByKey[string(a.keyBuf)]
		if cl == nil {
			cl = &callClass{needs: slices.Clone(c.needs), key: string(a.keyBuf), at: len(q.classes)}
			q.classes = append(q.classes, cl)
			q.classByKey[cl.key] = cl
		}
		c.cls[j] = cl
		cl.calls.insert(c)
		cl.n++
	}
}

// unindexCallLocked takes a call out of every class.
func (a *ACD) unindexCallLocked(c *QueuedCall) {
	for j, cl := range c.cls {
		if cl == nil {
			continue
		}
		cl.calls.remove(c)
		cl.n--
		c.cls[j] = nil
		if cl.n == 0 {
			c.lists[j].dropClass(cl)
		}
	}
}

// dropClass forgets an empty class when the queue has many.
func (q *acdQueue) dropClass(cl *callClass) {
	if len(q.classes) <= keepClasses {
		return
	}
	last := q.classes[len(q.classes)-1]
	q.classes[cl.at] = last
	last.at = cl.at
	q.classes[len(q.classes)-1] = nil
	q.classes = q.classes[:len(q.classes)-1]
	delete(q.classByKey, cl.key)
}

// meets reports whether an agent has every skill level of needs.
func (ag *acdAgent) meets(needs []skillNeed) bool {
	for _, n := range needs {
		if ag.level(n.id) < n.level {
			return false
		}
	}
	return true
}

// bestCallLocked finds the waiting call an agent should get: highest
// priority, then longest waiting, among its queues.
func (a *ACD) bestCallLocked(ag *acdAgent, now time.Time) *QueuedCall {
	var best *QueuedCall
	for _, q := range ag.queues {
		for _, cl := range q.classes {
			if cl.n == 0 || !ag.meets(cl.needs) {
				continue
			}
		buckets:
			for _, b := range cl.calls.buckets {
				if best != nil && b.prio < best.rank() {
					break
				}
				for _, c := range b.calls {
					if best != nil && !before(c, best) {
						break buckets
					}
					if a.eligibleLocked(ag, c, now) {
						best = c
						break buckets
					}
				}
			}
		}
	}
	return best
}
