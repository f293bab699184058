package sip

import (
	"bytes"
	"context"
	"errors"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"hotline/internal/rxstamp"
	"hotline/metrics"
	"hotline/sip/overload"
)

// The door: while Hotline sheds new calls (or max_setups calls are in
// setup), a new INVITE arriving over UDP is refused in the socket's read
// loop, from its raw bytes, before sipgo parses it, creates a server
// transaction and starts a goroutine for it: the refusal costs a few
// microseconds of the one goroutine that reads the socket, so refused
// callers get their 503 at once, and the cores stay with the admitted
// calls. The 503 is stateless (RFC 3261 §8.2.6, §16.7 style): Via(s),
// From, Call-ID and CSeq copied, To with a tag derived from the request
// (a retransmission gets the same answer), Retry-After. Only an INVITE
// the door is sure of is refused: one without a To tag, with every
// mandatory header once and a whole header section; anything else
// (ACK, BYE, CANCEL, re-INVITE, REGISTER, responses, odd messages) goes
// to sipgo untouched, where shedInvite still applies to INVITEs. The ACK
// a caller sends for a door 503 (its To tag carries doorTagPrefix)
// belongs to no transaction and no dialog: the door drops it.

// doorTagPrefix starts the To tag of every 503 the door sends.
const doorTagPrefix = "hl503"

// Bounds of what the door parses; a request past them goes to sipgo.
const (
	doorMaxVias = 16
	// doorRecentCap bounds each generation of the INVITEs let through.
	doorRecentCap = 1 << 17
	// doorRecentAge is how long an INVITE let through is remembered: its
	// retransmissions (Timer B, 64*T1 = 32 s) must reach its transaction
	// in sipgo, not the door.
	doorRecentAge = 32 * time.Second
)

// span is a part of a datagram: b[lo:hi].
type span struct{ lo, hi int }

func (s span) of(b []byte) []byte { return b[s.lo:s.hi] }

// rawRequest is what the door reads of a request's header section.
type rawRequest struct {
	vias               [doorMaxVias]span // Via header field values, in order
	nvia               int
	from, to, callID   span
	cseq               span
	hasFrom, hasTo     bool
	hasCallID, hasCSeq bool
	top                topVia // read by initialInvite
}

// parseRawRequest reads the header section of a request of method
// (e.g. "INVITE") from a datagram, without allocating: every Via field,
// From, To, Call-ID and CSeq (full or compact names). ok is false for
// anything the door is not sure of: another method, a request line not
// ending in SIP/2.0, a line not ending in CRLF, no end of the header section, a folded line, a
// header without a colon, From/To/Call-ID/CSeq missing or repeated, no
// Via, too many Via fields, a CSeq not "<number> <method>".
func parseRawRequest(b []byte, method string) (r rawRequest, ok bool) {
	if len(b) <= len(method) || string(b[:len(method)]) != method || b[len(method)] != ' ' {
		return r, false
	}
	eol := bytes.IndexByte(b, '\n')
	if eol < 0 {
		return r, false
	}
	if !bytes.HasSuffix(b[:eol], []byte(" SIP/2.0\r")) {
		return r, false
	}
	i := eol + 1
	for {
		if i >= len(b) {
			return r, false // the header section does not end
		}
		e := bytes.IndexByte(b[i:], '\n')
		if e < 0 {
			return r, false
		}
		lineEnd := i + e
		line := b[i:lineEnd]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return r, false // lines end in CRLF (sipgo splits on nothing else)
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			break // end of the header section
		}
		if line[0] == ' ' || line[0] == '\t' {
			return r, false // folded: sipgo's to read
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return r, false
		}
		name := bytes.TrimRight(line[:colon], " \t")
		vlo, vhi := i+colon+1, i+len(line)
		for vlo < vhi && (b[vlo] == ' ' || b[vlo] == '\t') {
			vlo++
		}
		for vhi > vlo && (b[vhi-1] == ' ' || b[vhi-1] == '\t') {
			vhi--
		}
		v := span{vlo, vhi}
		switch {
		case headerIs(name, "via", "v"):
			if r.nvia == doorMaxVias || vlo == vhi {
				return r, false
			}
			r.vias[r.nvia] = v
			r.nvia++
		case headerIs(name, "from", "f"):
			if !setOnce(&r.from, &r.hasFrom, v) {
				return r, false
			}
		case headerIs(name, "to", "t"):
			if !setOnce(&r.to, &r.hasTo, v) {
				return r, false
			}
		case headerIs(name, "call-id", "i"):
			if vlo == vhi || !setOnce(&r.callID, &r.hasCallID, v) {
				return r, false
			}
		case headerIs(name, "cseq", ""):
			if !setOnce(&r.cseq, &r.hasCSeq, v) {
				return r, false
			}
		}
		i = lineEnd + 1
	}
	if r.nvia == 0 || !r.hasFrom || !r.hasTo || !r.hasCallID || !r.hasCSeq {
		return r, false
	}
	// CSeq: digits, white space, the method.
	cs := r.cseq.of(b)
	n := 0
	for n < len(cs) && cs[n] >= '0' && cs[n] <= '9' {
		n++
	}
	if n == 0 || n > 10 || n == len(cs) || (cs[n] != ' ' && cs[n] != '\t') {
		return r, false
	}
	if string(bytes.TrimLeft(cs[n:], " \t")) != method {
		return r, false
	}
	return r, true
}

// setOnce sets a header the door allows once: false when it was set
// already (a repeated From, To, Call-ID or CSeq: sipgo's to judge).
func setOnce(dst *span, has *bool, v span) bool {
	if *has {
		return false
	}
	*dst, *has = v, true
	return true
}

// headerIs reports whether name is the header full (case-insensitive)
// or its compact form.
func headerIs(name []byte, full, compact string) bool {
	if compact != "" && len(name) == 1 {
		return name[0]|0x20 == compact[0]
	}
	return len(name) == len(full) && bytes.EqualFold(name, []byte(full))
}

// rawTag returns the tag parameter of a From or To field value (nil when
// it has none). The parameters of a name-addr follow its '>'; those of
// an addr-spec, its first ';' (RFC 3261 §20.10). A quoted display name
// is skipped.
func rawTag(v []byte) []byte {
	i := 0
	if len(v) > 0 && v[0] == '"' {
		for i = 1; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' {
				i++
			}
		}
		i++
	}
	if i > len(v) {
		return nil
	}
	rest := v[i:]
	if lt := bytes.IndexByte(rest, '<'); lt >= 0 {
		gt := bytes.IndexByte(rest[lt:], '>')
		if gt < 0 {
			return nil
		}
		rest = rest[lt+gt+1:]
	}
	semi := bytes.IndexByte(rest, ';')
	if semi < 0 {
		return nil
	}
	rest = rest[semi+1:]
	for len(rest) > 0 {
		p := rest
		if j := bytes.IndexByte(rest, ';'); j >= 0 {
			p, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		name, val, _ := bytes.Cut(p, []byte("="))
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("tag")) {
			if t := bytes.TrimSpace(val); len(t) > 0 {
				return t
			}
		}
	}
	return nil
}

// initialInvite reads a datagram as a new call's INVITE (no To tag); ok
// is false for anything else.
// A request whose topmost Via, From or To the door cannot read is
// sipgo's to answer (or drop).
func initialInvite(b []byte) (rawRequest, bool) {
	r, ok := parseRawRequest(b, "INVITE")
	if !ok || r.from.lo == r.from.hi || r.to.lo == r.to.hi || rawTag(r.to.of(b)) != nil {
		return r, false
	}
	if r.top = readTopVia(b, &r); r.top.malformed {
		return r, false
	}
	return r, true
}

// doorAck reports an ACK for a 503 the door sent.
func doorAck(b []byte) bool {
	if len(b) < 4 || string(b[:4]) != "ACK " {
		return false
	}
	r, ok := parseRawRequest(b, "ACK")
	return ok && bytes.HasPrefix(rawTag(r.to.of(b)), []byte(doorTagPrefix))
}

// requestKey identifies an INVITE transaction and its retransmissions:
// a hash of its Call-ID, From, CSeq and topmost Via field.
func requestKey(b []byte, r *rawRequest) uint64 {
	h := fnv.New64a()
	for _, s := range []span{r.callID, r.from, r.cseq, r.vias[0]} {
		_, _ = h.Write(s.of(b))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

// topVia is the topmost Via of a request: the first value of its first
// Via field, where its sent-by port is, and its rport parameter when
// it has one without a value (RFC 3581).
type topVia struct {
	end       int // end of the topmost value (a ',' or the field's end), in b
	port      int // sent-by port; 0: none given
	rportAt   int // index in b just after "rport"; 0: no empty rport
	malformed bool
}

// readTopVia reads the topmost Via value of r.
func readTopVia(b []byte, r *rawRequest) topVia {
	v := r.vias[0]
	field := v.of(b)
	tv := topVia{end: v.hi}
	if bytes.IndexByte(field, '"') >= 0 {
		tv.malformed = true
		return tv
	}
	if c := bytes.IndexByte(field, ','); c >= 0 {
		tv.end = v.lo + c
	}
	val := b[v.lo:tv.end]
	// sent-protocol: name / version / transport (white space may
	// surround each '/'), then sent-by.
	s1 := bytes.IndexByte(val, '/')
	s2 := -1
	if s1 >= 0 {
		if k := bytes.IndexByte(val[s1+1:], '/'); k >= 0 {
			s2 = s1 + 1 + k
		}
	}
	if s2 < 0 || !bytes.EqualFold(bytes.TrimSpace(val[:s1]), []byte("SIP")) ||
		!bytes.Equal(bytes.TrimSpace(val[s1+1:s2]), []byte("2.0")) {
		tv.malformed = true
		return tv
	}
	j := s2 + 1
	for j < len(val) && (val[j] == ' ' || val[j] == '\t') {
		j++
	}
	for j < len(val) && val[j] != ' ' && val[j] != '\t' { // transport
		j++
	}
	for j < len(val) && (val[j] == ' ' || val[j] == '\t') {
		j++
	}
	k := j
	for k < len(val) && val[k] != ';' && val[k] != ' ' && val[k] != '\t' {
		k++
	}
	sentBy := val[j:k]
	if len(sentBy) == 0 {
		tv.malformed = true
		return tv
	}
	hostEnd := 0
	if sentBy[0] == '[' {
		hostEnd = bytes.IndexByte(sentBy, ']') + 1
		if hostEnd == 0 {
			tv.malformed = true
			return tv
		}
	} else if c := bytes.IndexByte(sentBy, ':'); c >= 0 {
		hostEnd = c
	} else {
		hostEnd = len(sentBy)
	}
	if hostEnd < len(sentBy) {
		if sentBy[hostEnd] != ':' {
			tv.malformed = true
			return tv
		}
		p, err := strconv.Atoi(string(sentBy[hostEnd+1:]))
		if err != nil || p <= 0 || p > 65535 {
			tv.malformed = true
			return tv
		}
		tv.port = p
	}
	// Parameters: an rport without a value.
	params := val[k:]
	for len(params) > 0 {
		semi := bytes.IndexByte(params, ';')
		if semi < 0 {
			break
		}
		params = params[semi+1:]
		p := params
		if e := bytes.IndexByte(p, ';'); e >= 0 {
			p = p[:e]
		}
		if bytes.EqualFold(bytes.TrimSpace(p), []byte("rport")) {
			start := len(val) - len(params) + len(p) - len(bytes.TrimLeft(p, " \t"))
			tv.rportAt = v.lo + start + len("rport")
			break
		}
	}
	return tv
}

// build503 appends the door's stateless 503 to a request (r, read from
// b, that came from src) to out, and returns it with where it goes: the
// source address when the topmost Via asks for rport (which it is then
// given, with received), else the source IP and the Via's sent-by port
// (RFC 3261 §18.2.2, as sipgo answers).
func build503(out, b []byte, r *rawRequest, src netip.AddrPort, retryAfter int, server string) ([]byte, netip.AddrPort) {
	dst := src
	tv := r.top
	out = append(out, "SIP/2.0 503 Service Unavailable\r\n"...)
	for i := 0; i < r.nvia; i++ {
		out = append(out, "Via: "...)
		v := r.vias[i]
		if i == 0 && !tv.malformed && tv.rportAt > 0 {
			out = append(out, b[v.lo:tv.rportAt]...)
			out = append(out, '=')
			out = strconv.AppendUint(out, uint64(src.Port()), 10)
			out = append(out, b[tv.rportAt:tv.end]...)
			out = append(out, ";received="...)
			out = append(out, src.Addr().Unmap().String()...)
			out = append(out, b[tv.end:v.hi]...)
		} else {
			out = append(out, v.of(b)...)
		}
		out = append(out, "\r\n"...)
	}
	if !tv.malformed && tv.rportAt == 0 {
		port := tv.port
		if port == 0 {
			port = 5060
		}
		dst = netip.AddrPortFrom(src.Addr(), uint16(port))
	}
	out = append(out, "From: "...)
	out = append(out, r.from.of(b)...)
	out = append(out, "\r\nTo: "...)
	out = append(out, r.to.of(b)...)
	out = append(out, ";tag="+doorTagPrefix...)
	out = strconv.AppendUint(out, requestKey(b, r), 36)
	out = append(out, "\r\nCall-ID: "...)
	out = append(out, r.callID.of(b)...)
	out = append(out, "\r\nCSeq: "...)
	out = append(out, r.cseq.of(b)...)
	out = append(out, "\r\nRetry-After: "...)
	out = strconv.AppendInt(out, int64(retryAfter), 10)
	out = append(out, "\r\nWarning: 399 hotline \"overloaded\"\r\n"...)
	if server != "" {
		out = append(out, "Server: "...)
		out = append(out, server...)
		out = append(out, "\r\n"...)
	}
	out = append(out, "Content-Length: 0\r\n\r\n"...)
	return out, dst
}

// recentInvites remembers the INVITEs the door let through (two
// generations of keys, each up to doorRecentAge old and doorRecentCap
// big), so that their retransmissions reach sipgo's transaction even
// once shedding started. Only the socket's reading goroutine uses it.
type recentInvites struct {
	cur, old map[uint64]struct{}
	since    time.Time
}

func (ri *recentInvites) has(k uint64) bool {
	_, a := ri.cur[k]
	_, b := ri.old[k]
	return a || b
}

func (ri *recentInvites) add(k uint64, now time.Time) {
	if ri.cur == nil || len(ri.cur) >= doorRecentCap || now.Sub(ri.since) >= doorRecentAge {
		ri.old, ri.cur, ri.since = ri.cur, make(map[uint64]struct{}, len(ri.cur)), now
	}
	ri.cur[k] = struct{}{}
}

// shedConn is a SIP UDP socket with the door in its ReadFrom; sipgo
// reads it (from one goroutine) and writes through it as through the
// socket itself.
type shedConn struct {
	net.PacketConn
	d          *overload.Detector
	retryAfter int
	server     string
	metrics    *metrics.Metrics
	log        *slog.Logger
	now        func() time.Time

	// maxDelay: a new INVITE that waited longer in the socket is refused
	// while the socket's queue stands that long (sip.overload.socket_delay;
	// 0: not judged); udp and oob read the socket's arrival stamps (also
	// when it is 0: they time the 503s).
	maxDelay time.Duration
	udp      *net.UDPConn
	oob      [128]byte
	arrived  time.Time // the current datagram's arrival stamp
	waited   time.Duration
	queue    standingDelay

	recent recentInvites
	out    []byte
	// delayRefused counts the new calls refused for socket_delay in the
	// current spell, delaySince and delayLast when the first and the
	// last of them were. The door logs when a spell starts and, at the
	// first new call admitted once none was refused for delayQuiet
	// (sip.overload.hold), that it is over: as the detector does for its
	// signals, two lines however often the queue comes and goes.
	delayRefused          int
	delaySince, delayLast time.Time
	delayQuiet            time.Duration
	// sockWait observes each datagram's wait in this socket
	// (hotline_sip_socket_wait_seconds of its kind; nil: not observed).
	sockWait func(time.Duration)
	// others: on the INVITE socket, the door of the socket beside it
	// (every other datagram), whose standing delay it also judges by.
	others *shedConn
	// The INVITE socket's last look at the head of the other socket's
	// queue while its reader read nothing (othersBehind), at most every
	// peekEvery.
	peek headLook

	// w sends what sipgo and the door write (udpwrite_linux.go); nil:
	// through the PacketConn.
	w *udpWriter

	// link: on the INVITE socket with the door process
	// (doorproc_linux.go), what the process passes on is read from it
	// instead of the socket (nil: none, or the process exited). judged:
	// the current datagram is a new INVITE the process judged by
	// shedding already.
	link   atomic.Pointer[doorLink]
	judged bool
	// unread: the link the current datagram came from, whose read the
	// door process learns (markRead) only once the door here has judged
	// it, so that a new INVITE is counted, unread or held, throughout.
	unread *doorLink
	// holds: with the door process, the new calls it passed on that were
	// admitted here as they were read (overload_hold.go); nil: no door
	// process, so no datagram is judged.
	holds *setupHolds
	// doorProc is the door process's link from its start, exited or not
	// (Close stops it).
	doorProc *doorLink
}

// newShedConn puts the door in front of pc, a socket of kind socket
// (metrics.SocketInvites, SocketOthers or SocketShared).
func (s *Server) newShedConn(pc net.PacketConn, socket string) *shedConn {
	c := &shedConn{PacketConn: pc, d: s.overload, retryAfter: int(s.cfg.Overload.RetryAfter / time.Second),
		server: s.cfg.UserAgent, metrics: s.deps.Metrics, log: s.log.With("component", "overload"), now: time.Now, sockWait: s.deps.Metrics.SIPSocketWait(socket)}
	if uc, ok := pc.(*net.UDPConn); ok {
		c.w = newUDPWriter(uc)
		// Arrival stamps time the 503s (hotline_calls_refused_seconds)
		// and, with socket_delay on, judge how long new INVITEs waited.
		if rxstamp.Enable(uc) {
			c.udp, c.maxDelay = uc, max(s.cfg.Overload.SocketDelay, 0)
			c.queue.window = s.cfg.Overload.Interval
			c.delayQuiet = s.cfg.Overload.Hold
		}
	}
	return c
}

// WriteTo sends a datagram (sipgo's requests and responses, the door's
// 503s) without queueing behind other writers when it can.
func (c *shedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.w != nil {
		if n, done, err := c.w.write(b, addr); done {
			return n, err
		}
	}
	return c.PacketConn.WriteTo(b, addr)
}

// Close closes the listener (waking its reader) and the writer's
// duplicate descriptor.
func (c *shedConn) Close() error {
	if c.doorProc != nil {
		c.doorProc.close()
	}
	if c.w != nil {
		c.w.close()
	}
	return c.PacketConn.Close()
}

// ReadFrom returns the next datagram sipgo is to handle: new INVITEs
// refused at the door, and ACKs of their 503s, are not.
func (c *shedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.read(p)
		if err != nil && c.w != nil && errors.Is(err, net.ErrClosed) {
			c.w.close() // the listener was closed without Close
		}
		pass := err != nil || n < 4 || !c.door(p[:n], addr)
		if c.unread != nil {
			c.unread.markRead()
			c.unread = nil
		}
		if pass {
			return n, addr, err
		}
	}
}

// read reads a datagram, with its arrival stamp when the door judges
// how long new INVITEs waited.
//
// The reader waits in Go's network poller, parked, its P free for other
// goroutines. It used to wait in poll(2) on a duplicate descriptor, so
// that the kernel woke its thread the moment a datagram arrived: while
// the RTP was read in user space, Go's poller was consulted too rarely.
// Since the kernel relays the RTP, that wait cost more than it saved: a
// thread blocked in poll(2) keeps its P until the runtime's monitor takes
// it back (from 20 µs to several ms), so during a garbage collection the
// two SIP readers held 10-17% of the two Ps while 100-250 goroutines
// waited for one, and three of four wake-ups found the P gone anyway.
// At 280 calls/s with SIPp (30 s steps, three runs each, alternated)
// the answer p99 was 32-80 ms here against 140-172 ms (bench/README.md,
// "The SIP readers wait in Go's poller again").
func (c *shedConn) read(p []byte) (int, net.Addr, error) {
	c.judged = false
	if l := c.link.Load(); l != nil {
		n, h, err := l.read(p)
		if err == nil {
			c.unread = l
			c.judged = h.flags&doorJudged != 0
			c.stamped(h.arrived)
			return n, net.UDPAddrFromAddrPort(h.from), nil
		}
		if l.closing.Load() {
			return 0, nil, net.ErrClosed
		}
		// The door process exited (logged), or the link failed: read
		// the socket as before.
		c.link.Store(nil)
		if !errors.Is(err, io.EOF) {
			c.log.Warn("door process link failed: new INVITEs are read by Hotline itself", "error", err)
		}
		l.abandon()
	}
	if c.udp == nil {
		return c.PacketConn.ReadFrom(p)
	}
	n, oobn, _, ap, err := c.udp.ReadMsgUDPAddrPort(p, c.oob[:])
	if err != nil {
		return n, nil, err
	}
	c.stamped(rxstamp.Time(c.oob[:oobn]))
	return n, net.UDPAddrFromAddrPort(ap), nil
}

// stamped takes the arrival stamp of the datagram just read: how long
// it waited, into the standing delay and the socket wait's histogram.
func (c *shedConn) stamped(at time.Time) {
	c.arrived, c.waited = at, 0
	if !c.arrived.IsZero() {
		now := c.now()
		c.waited = now.Sub(c.arrived)
		c.queue.add(now, c.waited)
		if c.sockWait != nil {
			c.sockWait(c.waited)
		}
	}
}

// standingDelay tells a standing queue in the socket from a burst, as
// CoDel does (RFC 8289): the least time the datagrams read during a
// window (the detector's sampling interval) waited in the socket. A
// garbage collection, a preempted reader or a burst of datagrams makes
// some of them wait; only while Hotline cannot keep up does every
// datagram of a whole window wait. Every datagram read counts (not only
// INVITEs): each waited behind the same queue.
type standingDelay struct {
	window   time.Duration
	start    time.Time     // of the current window; zero: none yet
	min      time.Duration // least wait in the current window
	standing time.Duration // least wait in the last whole window

	// What another goroutine may read (the INVITE socket's door reads
	// the other socket's): standing, and when its window ended.
	pubStanding, pubEnd atomic.Int64 // ns; Unix ns
}

// add counts a datagram read at now that waited in the socket.
func (q *standingDelay) add(now time.Time, waited time.Duration) {
	if q.start.IsZero() || now.Sub(q.start) >= q.window {
		// The window is over (however long ago: a queue that stood
		// then and no longer does lets the next datagram through, as it
		// did not wait).
		q.standing, q.start, q.min = q.min, now, waited
		q.pubStanding.Store(int64(q.standing))
		q.pubEnd.Store(now.UnixNano())
		return
	}
	q.min = min(q.min, waited)
}

// stands reports whether every datagram read in the last whole window
// waited more than d in the socket.
func (q *standingDelay) stands(d time.Duration) bool { return q.standing > d }

// standsFor is stands as another goroutine sees it at now: false once
// the window it measured ended more than two windows ago (a socket
// nothing arrived on since, or one nobody reads, which the backlog
// signal covers).
func (q *standingDelay) standsFor(d time.Duration, now time.Time) bool {
	return !q.stale(now) && time.Duration(q.pubStanding.Load()) > d
}

// peekEvery bounds how often a door looks at the head of the other
// socket's queue (a system call).
const peekEvery = 10 * time.Millisecond

// headLook is a door's last look at the head of a socket's queue
// (headWait), taken again at most every peekEvery.
type headLook struct {
	at   time.Time
	wait time.Duration
	ok   bool
	oob  [128]byte
}

// look returns how long the datagram at the head of c's queue has
// waited by now (false: none, or no stamp), as last seen.
func (h *headLook) look(c *net.UDPConn, now time.Time) (time.Duration, bool) {
	if h.due(now) {
		h.wait, h.ok = headWait(c, now, h.oob[:])
	}
	return h.wait, h.ok
}

// due reports whether the last look is peekEvery old by now, and if so
// takes now as the next look's time.
func (h *headLook) due(now time.Time) bool {
	if h.at.IsZero() || now.Sub(h.at) >= peekEvery {
		h.at = now
		return true
	}
	return false
}

// stale reports whether the reader has measured nothing for two windows
// by now (nothing arrived, or the reader is held up).
func (q *standingDelay) stale(now time.Time) bool {
	end := q.pubEnd.Load()
	return end == 0 || now.UnixNano()-end > int64(2*q.window)
}

// othersBehind reports, on the INVITE socket, whether the other socket's
// datagrams (the admitted calls' answers and in-dialog requests) wait
// longer than d: every one read in its reader's last window did, or,
// when its reader has read nothing for two windows, the one at the head
// of its queue has waited d and a whole window already (the reader is
// held up, not idle: a reader that gets no core measures nothing, and its
// queue is then the longest).
func (c *shedConn) othersBehind(d time.Duration, now time.Time) bool {
	o := c.others
	if o.queue.standsFor(d, now) {
		return true
	}
	if o.udp == nil || !o.queue.stale(now) {
		return false
	}
	w, ok := c.peek.look(o.udp, now)
	return ok && w > max(d, o.queue.window)
}

// door handles a datagram at the door and reports whether it is done
// with it (sipgo is not to see it).
func (c *shedConn) door(b []byte, addr net.Addr) bool {
	switch b[0] {
	case 'A':
		if doorAck(b) {
			c.metrics.SIPRequest(metrics.In, "ACK")
			return true
		}
		return false
	case 'I':
	default:
		return false
	}
	r, ok := initialInvite(b)
	if !ok {
		return false
	}
	key := requestKey(b, &r)
	if c.recent.has(key) {
		return false // a retransmission of a call let through: its transaction answers
	}
	now := c.now()
	var refuse bool
	var why overload.Reason
	// queue: refused for a queue (socket_delay, max_setups), which the
	// detector counts as a signal; not by shedding nor a rate.
	var queue bool
	var held func()
	if c.judged {
		// Judged by shedding in the door process already: not twice.
		// Admitted now, as it is read, so that the calls in setup the
		// door process refuses on count it from here (overload_hold.go;
		// startDoor sets holds before the link).
		var ok bool
		held, why, ok = c.d.Admit(false)
		refuse = !ok
	} else {
		refuse, why, queue = c.d.Refusing()
	}
	// The door process judged both queues as the INVITE arrived (its
	// behind): a new INVITE it passed on is not refused here for having
	// waited since, which would only make its 503 late.
	if !refuse && !c.judged && c.maxDelay > 0 && c.others != nil && c.othersBehind(c.maxDelay, now) {
		// The responses and in-dialog requests of the calls admitted
		// already (their own socket) have all waited this long for a
		// whole window: admitting more would make them wait longer.
		refuse, why, queue = true, overload.ReasonSocketDelay, true
	}
	if !refuse && !c.judged && c.maxDelay > 0 && c.waited > c.maxDelay && c.queue.stands(c.maxDelay) {
		// Hotline has been this far behind its socket for a whole
		// window, not for a moment: the caller has waited already, and
		// admitting the call would add to the queue. Whoever holds the
		// cores (Hotline's own work or other programs), fewer calls
		// admitted is what shortens the queue.
		refuse, why, queue = true, overload.ReasonSocketDelay, true
	}
	switch {
	case refuse:
	case c.judged:
		// The door process took the call's max_cps and learned-rate
		// tokens.
		c.d.NoteAdmitted()
	case !c.d.TakeCall(now):
		// sip.overload.max_cps: the door takes the call's token, so
		// shedInvite does not take another for a UDP INVITE.
		refuse, why = true, overload.ReasonMaxCPS
	default:
		// The rate learned from the last overload (sip.overload.learn),
		// taken here too.
		if ok, lw := c.d.TakeLearned(now); !ok {
			refuse, why = true, lw
		}
	}
	if !refuse {
		if held != nil {
			c.holds.hold(string(r.callID.of(b)), held, now)
		}
		c.recent.add(key, now)
		if c.delayRefused > 0 && now.Sub(c.delayLast) >= c.delayQuiet {
			c.log.Info("overload over: new calls are admitted again", "reason", overload.ReasonSocketDelay,
				"refused", c.delayRefused, "for", c.delayLast.Sub(c.delaySince).Round(time.Millisecond))
			c.delayRefused = 0
		}
		return false
	}
	if queue {
		c.d.NoteQueueRefused(why)
	}
	if queue && why == overload.ReasonSocketDelay {
		c.delayLast = now
		if c.delayRefused == 0 {
			c.delaySince = c.delayLast
			c.log.Warn("overloaded: new calls are refused", "reason", why, "waited", c.waited.Round(time.Millisecond),
				"socket_delay", c.maxDelay)
		}
		c.delayRefused++
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return false
	}
	src := ua.AddrPort()
	var dst netip.AddrPort
	c.out, dst = build503(c.out[:0], b, &r, src, c.retryAfter, c.server)
	c.metrics.SIPRequest(metrics.In, "INVITE")
	c.metrics.CallRefused(string(why))
	if c.log.Enabled(context.Background(), slog.LevelDebug) {
		c.log.Debug("call refused at the door: overloaded", "call_id", string(r.callID.of(b)), "reason", why, "waited", c.waited)
	}
	if !c.arrived.IsZero() { // timed as it goes out: counted before the caller can see it
		c.metrics.RefusedAfter(c.now().Sub(c.arrived))
	}
	if _, err := c.WriteTo(c.out, net.UDPAddrFromAddrPort(dst)); err != nil {
		c.log.Debug("503 not sent", "call_id", string(r.callID.of(b)), "error", err)
		return true
	}
	c.metrics.SIPResponse(metrics.Out, "INVITE", 503)
	return true
}
