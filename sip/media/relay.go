package media

import (
	"encoding/binary"
	"hotline/audio"
	"net/netip"
	"time"
)

// Bridge relays packets received on a out of b and packets received on b
// out of a, and stops what is playing on both. The payload type is
// rewritten to the destination's, G.711 is transcoded in place when the
// encodings differ, and telephone-events are rewritten to the destination's
// telephone-event payload type or dropped if it has none (they are still
// decoded for OnDTMF). The returned function stops relaying; the legs stay
// open. It is safe to call more than once.
// A leg is bridged with at most one other: bridging it again detaches it
// from its previous partner. Bridging a leg with itself does nothing.
func Bridge(a, b *Leg) (unbridge func()) {
	if a == b {
		return func() {}
	}
	a.Play(nil)
	b.Play(nil)
	for _, x := range [2][2]*Leg{{a, b}, {b, a}} {
		if old := x[0].peer.Swap(x[1]); old != nil && old != x[1] {
			old.peer.CompareAndSwap(x[0], nil)
			old.syncKernel()
		}
	}
	a.syncKernel()
	b.syncKernel()
	return func() {
		a.peer.CompareAndSwap(b, nil)
		b.peer.CompareAndSwap(a, nil)
		a.syncKernel()
		b.syncKernel()
	}
}

// parseRTP checks that p looks like an RTP packet and returns where its
// payload starts and ends (padding excluded).
func parseRTP(p []byte) (start, end int, ok bool) {
	n := len(p)
	if n < 12 || p[0]>>6 != 2 {
		return 0, 0, false
	}
	start = 12 + 4*int(p[0]&0x0f)
	if p[0]&0x10 != 0 { // header extension
		if start+4 > n {
			return 0, 0, false
		}
		start += 4 + 4*int(binary.BigEndian.Uint16(p[start+2:]))
	}
	end = n
	if p[0]&0x20 != 0 { // padding
		pad := int(p[n-1])
		if pad == 0 {
			return 0, 0, false
		}
		end -= pad
	}
	if start > end {
		return 0, 0, false
	}
	return start, end, true
}

// rxPacket is a packet the leg accepted, between accept and forward.
type rxPacket struct {
	p          []byte
	start, end int    // payload
	dtmf       bool   // a telephone-event
	f          Format // the leg's format when it was accepted
	now        int64  // arrival, as l.since()
	digit      rune   // a key pressed, ended by this telephone-event (0: none)
}

// arrival is a's arrival as a time.Time, without reading the wall clock
// (its monotonic reading is what the recorder uses).
func (l *Leg) arrival(a *rxPacket) time.Time { return l.epoch.Add(time.Duration(a.now - 1)) }

// take handles one packet received from src: it validates and latches,
// counts, decodes telephone-events, taps and, if the leg is bridged,
// rewrites the packet in place for the peer. ok says whether p should be
// sent to dst out of peer; digit is the key the packet ended (0: none),
// the caller's to report (Leg.pressed) once it no longer holds l.rdMu
// (OnDTMF may close the leg). It never blocks and never allocates once
// latched.
func (l *Leg) take(p []byte, src netip.AddrPort) (peer *Leg, dst netip.AddrPort, digit rune, ok bool) {
	var a rxPacket
	if !l.accept(p, src, &a) {
		return nil, dst, 0, false
	}
	if t := l.tap.Load(); t != nil {
		if t.one != nil {
			t.one(p, l.arrival(&a))
		} else {
			l.rx.one[0] = p
			t.many.TapPackets(l.rx.one[:], 0, l.arrival(&a))
			l.rx.one[0] = nil
		}
	}
	peer, dst, ok = l.forward(&a)
	return peer, dst, a.digit, ok
}

// tapBatch gives the tap the packets of one read that the leg accepted.
func (l *Leg) tapBatch(acc []rxPacket) {
	l.rx.many = l.tap.Load().give(len(acc), 0, func(i int) ([]byte, time.Time) { return acc[i].p, l.arrival(&acc[i]) }, l.rx.many)
}

// give hands the tap (nil: none) n packets of one read, pkt(i) being the
// i-th and its arrival, and the copies missed before them: one call per
// packet for a Tap, one call with the last arrival for a BatchTap (also
// for missed copies alone). many is scratch space for the latter,
// returned emptied for the next call.
func (t *tapper) give(n int, missed uint64, pkt func(int) ([]byte, time.Time), many [][]byte) [][]byte {
	switch {
	case t == nil || n == 0 && missed == 0:
	case t.one != nil:
		for i := range n {
			t.one(pkt(i))
		}
	default:
		var last time.Time
		for i := range n {
			var p []byte
			p, last = pkt(i)
			many = append(many, p)
		}
		t.many.TapPackets(many, missed, last)
		clear(many)
	}
	return many[:0]
}

// accept validates and latches p (received from src), counts it, decodes
// telephone-events and gives its audio to a monitor; a describes p for
// the tap and forward. false means p was dropped.
func (l *Leg) accept(p []byte, src netip.AddrPort, a *rxPacket) bool {
	start, end, valid := parseRTP(p)
	r := l.remote.Load()
	if !valid || r == nil {
		l.dropped.Add(1)
		return false
	}
	pt := p[1] & 0x7f
	dtmf := r.f.DTMFPT != 0 && pt == r.f.DTMFPT
	if pt != r.f.PT && !dtmf {
		l.dropped.Add(1)
		return false
	}
	if src.Addr().Is4In6() {
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	}
	if !r.latched {
		if src != r.dest && l.relayedFromSDP() {
			// The kernel relays the SDP's address already (its copies
			// latch the leg there a moment later): that is the peer, not
			// whoever sent this.
			l.latch(r, r.dest)
			l.dropped.Add(1)
			return false
		}
		if r, valid = l.latch(r, src); !valid {
			l.dropped.Add(1)
			return false
		}
	} else if r.dest != src {
		l.dropped.Add(1)
		return false
	}

	l.packetsIn.Add(1)
	l.bytesIn.Add(uint64(len(p)))
	now := l.since() // the one clock reading per packet (monotonic only)
	l.lastPacket.Store(now)
	l.rxMu.Lock()
	l.countLoss(p)
	if !dtmf {
		l.measureJitter(p, now)
	}
	var digit rune
	if dtmf && end-start >= 4 && p[start+1]&0x80 != 0 && l.dtmfEnd(p[start], binary.BigEndian.Uint32(p[4:])) {
		digit = rune(dtmfDigits[p[start]])
	}
	l.rxMu.Unlock()
	if !dtmf {
		if mix := l.mix.Load(); mix != nil {
			mix.received(p[start:end], r.f.Encoding)
		}
	}
	*a = rxPacket{p: p, start: start, end: end, dtmf: dtmf, f: r.f, now: now, digit: digit}
	return true
}

// pressed reports a key the leg's peer pressed (decoded by accept) to
// OnDTMF's function. Readers call it once done with what they read: the
// function may close the leg, and Close waits for a read in progress.
func (l *Leg) pressed(digit rune) {
	if digit == 0 {
		return
	}
	if f := l.onDTMF.Load(); f != nil {
		(*f)(digit)
	}
}

// forward rewrites an accepted packet in place for the bridged leg and
// returns it and where to send; ok is false if it goes nowhere.
func (l *Leg) forward(a *rxPacket) (peer *Leg, dst netip.AddrPort, ok bool) {
	peer = l.peer.Load()
	if peer == nil {
		return nil, dst, false
	}
	pr := peer.remote.Load()
	if !pr.canSend() {
		return nil, dst, false
	}
	p, start, end := a.p, a.start, a.end
	if a.dtmf {
		if pr.f.DTMFPT == 0 {
			return nil, dst, false
		}
		p[1] = p[1]&0x80 | pr.f.DTMFPT&0x7f
	} else {
		p[1] = p[1]&0x80 | pr.f.PT&0x7f
		mix := l.mix.Load()
		switch {
		case mix != nil && mix.relay(p[start:end], a.f.Encoding, pr.f.Encoding):
			// the supervisor was mixed in, written in the peer's encoding
		case pr.f.Encoding != a.f.Encoding:
			audio.Transcode(p[start:end], a.f.Encoding, pr.f.Encoding)
		}
	}
	return peer, pr.dest, true
}

// latch makes src the leg's remote unless a concurrent SetRemote or latch
// got there first; it returns the remote in force and whether src is it.
func (l *Leg) latch(r *remote, src netip.AddrPort) (*remote, bool) {
	for {
		nr := &remote{sdp: r.sdp, dest: src, latched: true, f: r.f}
		if l.remote.CompareAndSwap(r, nr) {
			l.log.Debug("rtp latched", "source", src, "sdp", r.sdp)
			l.syncKernel()
			l.peer.Load().syncKernel()
			return nr, true
		}
		r = l.remote.Load()
		if r.latched {
			return r, r.dest == src
		}
	}
}

// countLoss tracks sequence numbers per SSRC and counts gaps.
func (l *Leg) countLoss(p []byte) {
	seq := binary.BigEndian.Uint16(p[2:])
	ssrc := binary.BigEndian.Uint32(p[8:])
	rx := &l.rx
	if !rx.haveSeq || ssrc != rx.ssrc {
		rx.haveSeq, rx.ssrc, rx.seq = true, ssrc, seq
		return
	}
	d := seq - rx.seq
	if d == 0 || d >= 0x8000 { // duplicate or late: not a gap
		return
	}
	if d > 1 && d < 3000 { // larger jumps are a restarted stream, not loss
		l.lost.Add(uint64(d - 1))
	}
	rx.seq = seq
}

// dtmfDigits maps RFC 4733 event codes 0-15 to keypad digits.
const dtmfDigits = "0123456789*#ABCD"

// dtmfEnd handles a telephone-event packet with the end bit: the first one
// for a given RTP timestamp is a digit to report (with rxMu released).
func (l *Leg) dtmfEnd(event byte, ts uint32) bool {
	rx := &l.rx
	if int(event) >= len(dtmfDigits) || (rx.haveDTMF && rx.dtmfTS == ts) {
		return false
	}
	rx.haveDTMF, rx.dtmfTS = true, ts
	return true
}

// measureJitter updates the interarrival jitter of received audio (RFC
// 3550 6.4.1, in 8 kHz timestamp units, kept ×16 as in its appendix A.8).
// now is the arrival in ns since the leg's epoch.
func (l *Leg) measureJitter(p []byte, now int64) {
	rx := &l.rx
	ssrc := binary.BigEndian.Uint32(p[8:])
	transit := int32(uint32(now/125000) - binary.BigEndian.Uint32(p[4:]))
	if rx.haveTransit && ssrc == rx.jitterSSRC {
		d := transit - rx.transit
		if d < 0 {
			d = -d
		}
		if d < 8000*10 { // a jump of seconds is a new stream, not jitter
			rx.jitter16 += int64(d) - (rx.jitter16+8)>>4
			if j := rx.jitter16 >> 4; j != rx.jitter { // a store is a locked instruction
				rx.jitter = j
				l.jitter.Store(j)
			}
		}
	}
	rx.transit, rx.jitterSSRC, rx.haveTransit = transit, ssrc, true
}
