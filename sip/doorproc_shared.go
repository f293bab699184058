package sip

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"hotline/sip/overload"
)

// The door process (sip.overload.door_process, doorproc_linux.go) and
// Hotline share a memory (doorShared) and a link: a SOCK_SEQPACKET
// socket pair over which the door passes on every datagram it does not
// answer itself, each behind a doorHdr header. This file is what both
// sides read and write, and builds everywhere.

const (
	// doorMagic starts a doorShared the door process may use.
	doorMagic = 0x31306f6f646c6868 // "hhldoo01"
	// doorRingLen is how many refusals the door can report before
	// Hotline takes them (10 s at 800 a second).
	doorRingLen = 8192
	// doorReasonMax bounds the reasons' indexes (overload.Reasons).
	doorReasonMax = 32
	// doorHdr is the size of the header before each datagram passed on.
	doorHdr = 40
	// doorFwdLen bounds the datagrams passed on and not yet read that the
	// door keeps the arrival of; more unread is Hotline far behind.
	doorFwdLen = 1 << 14
	// doorShareScale is a share of 1 in the shed word.
	doorShareScale = 1 << 31
	// doorJudged flags a datagram the door judged by Hotline's shedding
	// decision already (a new INVITE it let through).
	doorJudged = 1
	// doorSent flags a refusal whose 503 went out.
	doorSent = 1 << 8
	// doorQueue flags a refusal for a queue (Hotline behind, max_setups),
	// not by shedding nor a rate.
	doorQueue = 1 << 9
)

// doorRefusal is one new call the door refused, for Hotline's metrics.
type doorRefusal struct {
	why  atomic.Uint32 // reason index (reasonIndex), | doorSent
	_    uint32
	wait atomic.Int64 // the INVITE's arrival → its 503, ns; 0: unknown
}

// doorShared is the memory Hotline and its door process share. Hotline
// writes shed and readSeq, the door head, overflow and the ring; each
// reads the other's. Every field is atomic: two processes, one mapping.
type doorShared struct {
	magic atomic.Uint64
	// shed is Hotline's shedding decision (packShed), published at each
	// of its overload samples.
	shed atomic.Uint64
	// readSeq counts the datagrams passed on that Hotline has read and
	// its door judged.
	readSeq atomic.Uint64
	// maxCPS and learned are the rates in force (math.Float64bits; 0: no
	// bound), learnWhy the learned rate's reason index: the door takes
	// their tokens. learnRefused counts the new calls it refused by the
	// learned rate (Hotline takes them into its detector).
	maxCPS, learned atomic.Uint64
	learnWhy        atomic.Uint32
	learnRefused    atomic.Int64
	// setups is Hotline's count of new calls admitted and being set up,
	// written at each change; maxSetups is sip.overload.max_setups (0:
	// no bound). Hotline admits a new INVITE the door passed on as it
	// reads it (overload_hold.go), before it stores readSeq past it. The
	// door refuses a new INVITE once the calls in setup and the new
	// INVITEs it passed on that Hotline has not read yet reach maxSetups.
	setups, maxSetups atomic.Int64
	// head counts the refusals the door wrote in ring; tail those
	// Hotline took.
	head, tail atomic.Uint64
	// overflow counts, by reason index, the refusals that found the ring
	// full (counted, without their wait); overflowQueue those of them
	// refused for a queue.
	overflow      [doorReasonMax]atomic.Uint64
	overflowQueue [doorReasonMax]atomic.Uint64
	ring          [doorRingLen]doorRefusal
}

// packShed packs a shedding decision: on, why, and the share of new
// calls refused (State.Share).
func packShed(on bool, why overload.Reason, share float64) uint64 {
	if !on {
		return 0
	}
	s := uint64(min(max(share, 0), 1) * doorShareScale)
	return 1<<63 | uint64(reasonIndex(why))<<32 | s
}

// publish writes Hotline's decisions for the door: st (a sample's) and
// d's rates in force.
func (sh *doorShared) publish(d *overload.Detector, st overload.State) {
	sh.shed.Store(packShed(st.Shedding, st.Reason, st.Share))
	sh.publishRates(d)
	sh.setups.Store(d.Setups())
}

// publishRates writes d's rates in force (max_cps, the learned rate).
func (sh *doorShared) publishRates(d *overload.Detector) {
	sh.maxCPS.Store(math.Float64bits(d.MaxCPS()))
	r, why := d.LearnedRate()
	sh.learnWhy.Store(reasonIndex(why))
	sh.learned.Store(math.Float64bits(r))
	sh.maxSetups.Store(int64(d.Config().MaxSetups))
}

// doorRates are the door's token buckets for the rates Hotline
// publishes.
type doorRates struct {
	cps, learned overload.TokenBucket
}

// take takes a new call's tokens at now: false, and why, past max_cps or
// the learned rate (counted in learnRefused).
func (dr *doorRates) take(sh *doorShared, now time.Time) (bool, overload.Reason) {
	follow(&dr.cps, math.Float64frombits(sh.maxCPS.Load()))
	if !dr.cps.Take(now) {
		return false, overload.ReasonMaxCPS
	}
	follow(&dr.learned, math.Float64frombits(sh.learned.Load()))
	if !dr.learned.Take(now) {
		sh.learnRefused.Add(1)
		return false, reasonAt(sh.learnWhy.Load())
	}
	return true, ""
}

// follow sets b to rate: a new bucket (a full burst) when there was no
// bound, as the detector starts one; else the tokens are kept.
func follow(b *overload.TokenBucket, rate float64) {
	switch {
	case rate == b.Rate():
	case b.Rate() <= 0:
		*b = overload.NewTokenBucket(rate)
	default:
		b.SetRate(rate)
	}
}

// refuseByShed draws whether a new call is refused by a packed shedding
// decision, and why.
func refuseByShed(w uint64) (bool, overload.Reason) {
	if w>>63 == 0 {
		return false, ""
	}
	if share := uint32(w); share < doorShareScale && rand.Uint32()>>1 >= share {
		return false, ""
	}
	return true, reasonAt(uint32(w>>32) & 0xff)
}

// reasonIndex is why's index in overload.Reasons, from 1 (0: none).
func reasonIndex(why overload.Reason) uint32 {
	for i, r := range overload.Reasons() {
		if r == why {
			return uint32(i + 1)
		}
	}
	return 0
}

// reasonAt is the reason of an index from reasonIndex ("" for none).
func reasonAt(i uint32) overload.Reason {
	rs := overload.Reasons()
	if i == 0 || int(i) > len(rs) {
		return ""
	}
	return rs[i-1]
}

// report records a refusal for Hotline's metrics (and, queue, its
// detector): in the ring, or counted in overflow when Hotline has not
// taken the ring's for a while.
func (sh *doorShared) report(why uint32, wait time.Duration, sent, queue bool) {
	h := sh.head.Load()
	if h-sh.tail.Load() >= doorRingLen {
		if queue {
			sh.overflowQueue[why%doorReasonMax].Add(1)
		} else {
			sh.overflow[why%doorReasonMax].Add(1)
		}
		return
	}
	e := &sh.ring[h%doorRingLen]
	if sent {
		why |= doorSent
	}
	if queue {
		why |= doorQueue
	}
	e.why.Store(why)
	e.wait.Store(int64(wait))
	sh.head.Store(h + 1)
}

// take calls f for each refusal the door reported since the last take
// (wait 0 and sent for those it only counted).
func (sh *doorShared) take(f func(why overload.Reason, wait time.Duration, sent, queue bool)) {
	t, h := sh.tail.Load(), sh.head.Load()
	for ; t < h; t++ {
		e := &sh.ring[t%doorRingLen]
		w := e.why.Load()
		f(reasonAt(w&0xff), time.Duration(e.wait.Load()), w&doorSent != 0, w&doorQueue != 0)
	}
	sh.tail.Store(t)
	for i := range sh.overflow {
		for n := sh.overflow[i].Swap(0); n > 0; n-- {
			f(reasonAt(uint32(i)), 0, true, false)
		}
		for n := sh.overflowQueue[i].Swap(0); n > 0; n-- {
			f(reasonAt(uint32(i)), 0, true, true)
		}
	}
}

// doorHeader is what precedes a datagram on the link.
type doorHeader struct {
	seq     uint64         // the door's count of datagrams passed on before it
	arrived time.Time      // the kernel's arrival stamp (zero: none)
	from    netip.AddrPort // the sender
	flags   byte           // doorJudged
}

func (h *doorHeader) put(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], h.seq)
	var at int64
	if !h.arrived.IsZero() {
		at = h.arrived.UnixNano()
	}
	binary.LittleEndian.PutUint64(b[8:], uint64(at))
	binary.LittleEndian.PutUint16(b[16:], h.from.Port())
	b[18] = h.flags
	a := h.from.Addr().As16()
	copy(b[24:40], a[:])
}

func (h *doorHeader) get(b []byte) {
	h.seq = binary.LittleEndian.Uint64(b[0:])
	h.arrived = time.Time{}
	if at := int64(binary.LittleEndian.Uint64(b[8:])); at != 0 {
		h.arrived = time.Unix(0, at)
	}
	a := netip.AddrFrom16([16]byte(b[24:40])).Unmap()
	h.from = netip.AddrPortFrom(a, binary.LittleEndian.Uint16(b[16:]))
	h.flags = b[18]
}
