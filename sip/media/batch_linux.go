//go:build linux && !nommsg

package media

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"hotline/internal/rxstamp"
)

// batchLen is how many datagrams one recvmmsg takes at most. A leg gets
// 50 packets a second: more than one waits only when its goroutine was
// held up (busy machine), and then they are read and relayed together.
const batchLen = 8

// batching says whether legs read and send with recvmmsg and sendmmsg.
const batching = true

// rxSlot is the size of one receive buffer: any datagram this long or
// longer is taken as truncated and dropped (not a sane RTP packet).
const rxSlot = 1600

// sockaddrLen is the size of a sockaddr_in6, the largest name recvmmsg
// returns on an RTP socket.
const sockaddrLen = 28

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// batch is the buffers of one recvmmsg and of the sendmmsg that relays
// what it read. Legs take one from their Ports' pool only while they
// have packets in hand (not while they wait), so a few batches serve
// thousands of legs.
type batch struct {
	bufs  [batchLen][rxSlot]byte
	names [batchLen][sockaddrLen]byte
	// ctrl receives the kernel's arrival stamp of the first datagram
	// (SO_TIMESTAMPNS; the others' are not needed: it waited longest).
	ctrl [rxstamp.Space]byte
	iovs [batchLen]unix.Iovec
	hdrs [batchLen]mmsghdr
	// out is the sendmmsg vector; every message of one sendmmsg goes to
	// the same destination, dst.
	outIovs [batchLen]unix.Iovec
	out     [batchLen]mmsghdr
	dst     [sockaddrLen]byte
}

func newBatch() *batch {
	b := &batch{}
	for i := range b.hdrs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(rxSlot)
		b.out[i].hdr.Iov = &b.outIovs[i]
		b.out[i].hdr.SetIovlen(1)
		b.out[i].hdr.Name = &b.dst[0]
	}
	return b
}

func (p *Ports) getBatch() *batch {
	if b, ok := p.batches.Get().(*batch); ok {
		return b
	}
	return newBatch()
}

func (p *Ports) putBatch(b *batch) { p.batches.Put(b) }

// recv reads up to batchLen datagrams from fd without blocking. It
// returns how many it read, or the error of the first read.
func (b *batch) recv(fd uintptr) (int, syscall.Errno) {
	for i := range b.hdrs {
		h := &b.hdrs[i].hdr
		h.Name = &b.names[i][0]
		h.Namelen = sockaddrLen
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		h.Control, h.Controllen, h.Flags = nil, 0, 0
	}
	b.hdrs[0].hdr.Control = &b.ctrl[0]
	b.hdrs[0].hdr.SetControllen(rxstamp.Space)
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), batchLen, unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(n), 0
	}
}

// noteWait counts the last recv (n datagrams) in the RTP read delay: how
// long its first datagram waited in the socket.
func (l *Leg) noteWait(b *batch, n int) {
	if n == 0 {
		return
	}
	h := &b.hdrs[0].hdr
	if at := rxstamp.Time(b.ctrl[:min(int(h.Controllen), len(b.ctrl))]); !at.IsZero() {
		l.ports.wait.note(max(time.Since(at), 0))
	}
}

// packet returns the i-th datagram of the last recv and its source.
func (b *batch) packet(i int) ([]byte, netip.AddrPort) {
	return b.bufs[i][:b.hdrs[i].len], parseSockaddr(&b.names[i], b.hdrs[i].hdr.Namelen)
}

func parseSockaddr(sa *[sockaddrLen]byte, n uint32) netip.AddrPort {
	family := *(*uint16)(unsafe.Pointer(&sa[0])) // host byte order
	port := binary.BigEndian.Uint16(sa[2:4])
	switch {
	case family == unix.AF_INET && n >= 16:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), port)
	case family == unix.AF_INET6 && n >= sockaddrLen:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(sa[8:24])), port)
	}
	return netip.AddrPort{}
}

// setDst makes dst the destination of the sendmmsg vector; false if the
// socket (IPv6 if v6) cannot reach it that way.
func (b *batch) setDst(dst netip.AddrPort, v6 bool) bool {
	clear(b.dst[:])
	a := dst.Addr()
	switch {
	case !v6 && a.Is4():
		*(*uint16)(unsafe.Pointer(&b.dst[0])) = unix.AF_INET
		binary.BigEndian.PutUint16(b.dst[2:4], dst.Port())
		a4 := a.As4()
		copy(b.dst[4:8], a4[:])
		for i := range b.out {
			b.out[i].hdr.Namelen = 16
		}
	case v6 && a.Is6() && a.Zone() == "":
		*(*uint16)(unsafe.Pointer(&b.dst[0])) = unix.AF_INET6
		binary.BigEndian.PutUint16(b.dst[2:4], dst.Port())
		a16 := a.As16()
		copy(b.dst[8:24], a16[:])
		for i := range b.out {
			b.out[i].hdr.Namelen = sockaddrLen
		}
	default:
		return false
	}
	return true
}

// sender is a read loop's sendmmsg state; write is its RawConn.Write
// callback, made once per loop so that a send allocates nothing.
type sender struct {
	b                   *batch
	sent, total, failed int
	failedBytes         uint64
	write               func(fd uintptr) bool
}

func newSender() *sender {
	s := &sender{}
	s.write = s.send
	return s
}

// send sends s.b.out[s.sent:s.total] out of fd; false when the socket
// is full (RawConn.Write waits until it can take more, then calls again).
func (s *sender) send(fd uintptr) bool {
	for s.sent < s.total {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.b.out[s.sent])), uintptr(s.total-s.sent), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			if n == 0 {
				return true
			}
			s.sent += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			// This datagram failed (e.g. ICMP unreachable): skip it.
			s.failed++
			s.failedBytes += uint64(s.b.outIovs[s.sent].Len)
			s.sent++
		}
	}
	return true
}

// sendTo sends the datagrams pkts (all to dst, all in s.b) out of l's
// socket, with one sendmmsg when there are several, and counts them.
func (l *Leg) sendTo(s *sender, pkts [][]byte, dst netip.AddrPort) {
	if len(pkts) == 1 || l.raw == nil || !s.b.setDst(dst, l.v6) {
		for _, p := range pkts {
			l.send(p, dst)
		}
		return
	}
	for i, p := range pkts {
		s.b.outIovs[i].Base = &p[0]
		s.b.outIovs[i].SetLen(len(p))
	}
	s.sent, s.total, s.failed, s.failedBytes = 0, len(pkts), 0, 0
	_ = l.raw.Write(s.write)
	var bytes uint64
	for _, p := range pkts[:s.sent] {
		bytes += uint64(len(p))
	}
	l.packetsOut.Add(uint64(s.sent - s.failed))
	l.bytesOut.Add(bytes - s.failedBytes)
}

// relayScratch is what relaying one read needs besides the batch: kept by
// whoever reads (a leg's read loop or a shared reader), so that relaying
// allocates nothing.
type relayScratch struct {
	out      [batchLen][]byte
	accepted [batchLen]rxPacket
	snd      *sender

	// keys are the keys pressed in the last relay, reported once the
	// read is done (Leg.pressed).
	keys []rune

	// readReady's: recv reads into b (made once: a closure per read
	// would allocate).
	b     *batch
	n     int
	errno syscall.Errno
	recv  func(fd uintptr)
}

func newRelayScratch() *relayScratch {
	w := &relayScratch{snd: newSender()}
	w.recv = func(fd uintptr) { w.n, w.errno = w.b.recv(fd) }
	return w
}

// relay handles the n datagrams l read into b: it accepts them, gives
// them to the tap and relays them (one sendmmsg per run of packets for
// the same destination).
func (l *Leg) relay(b *batch, n int, w *relayScratch) {
	w.snd.b = b
	acc := w.accepted[:0]
	for i := range n {
		p, src := b.packet(i)
		if len(p) >= rxSlot { // truncated: not a sane RTP packet
			l.dropped.Add(1)
			continue
		}
		if l.accept(p, src, &w.accepted[len(acc)]) {
			if d := w.accepted[len(acc)].digit; d != 0 {
				w.keys = append(w.keys, d)
			}
			acc = w.accepted[:len(acc)+1]
		}
	}
	l.tapBatch(acc)
	var (
		to   *Leg
		dst  netip.AddrPort
		runs = w.out[:0]
	)
	for i := range acc {
		peer, d, ok := l.forward(&acc[i])
		if !ok {
			continue
		}
		if len(runs) > 0 && (peer != to || d != dst) {
			to.sendTo(w.snd, runs, dst)
			runs = runs[:0]
		}
		to, dst = peer, d
		runs = append(runs, acc[i].p)
	}
	if len(runs) > 0 {
		to.sendTo(w.snd, runs, dst)
	}
	clear(w.accepted[:])
	clear(w.out[:])
	w.snd.b = nil
}

// readReady reads what l's socket holds (one recvmmsg, at most batchLen
// datagrams, without waiting) and relays it; a shared reader calls it
// when the socket is readable. The read and the relay hold l.rdMu, so a
// Close waits for them (its drain then finds the rest), and the keys
// pressed are reported after it, so OnDTMF may close the leg. A closed
// leg reads nothing.
func (l *Leg) readReady(w *relayScratch) {
	w.b = l.ports.getBatch()
	w.n, w.errno = 0, 0
	l.rdMu.Lock()
	defer l.pressedAll(w)
	defer l.rdMu.Unlock()
	if err := l.raw.Control(w.recv); err == nil {
		switch {
		case w.errno == unix.EAGAIN:
		case w.errno != 0:
			l.dropped.Add(1) // e.g. ECONNREFUSED from an earlier send
		default:
			l.noteWait(w.b, w.n)
			l.relay(w.b, w.n, w)
		}
	}
	l.ports.putBatch(w.b)
	w.b = nil
}

// pressedAll reports the keys of w's last relay (Leg.pressed).
func (l *Leg) pressedAll(w *relayScratch) {
	for _, d := range w.keys {
		l.pressed(d)
	}
	w.keys = w.keys[:0]
}

// readLoop reads RTP with recvmmsg, relays what it read (one sendmmsg per
// run of packets for the same destination) and, on the read deadline,
// drains RTCP and checks the media timeout: a leg's own goroutine
// (rtp.readers: -1; shared readers call readReady instead). It never
// waits for packets to accumulate: it reads whatever is there as soon as
// the socket is readable. After a read that emptied the socket (fewer
// than batchLen datagrams) it goes straight to waiting for the next
// packet instead of asking the socket once more only to be told EAGAIN:
// the poller is edge triggered, so a packet that arrived meanwhile has
// already marked the socket readable.
func (l *Leg) readLoop() {
	defer l.wg.Done()
	if l.raw == nil || l.ports == nil {
		l.readLoopPlain()
		return
	}
	iv := l.checkInterval()
	_ = l.conn.SetReadDeadline(time.Now().Add(iv))
	var (
		b       *batch
		n       int
		errno   syscall.Errno
		drained bool
	)
	read := func(fd uintptr) bool {
		if drained {
			drained = false
			return false
		}
		if b == nil {
			b = l.ports.getBatch()
		}
		l.rdMu.Lock() // until what is read is relayed (readReady)
		n, errno = b.recv(fd)
		if errno == unix.EAGAIN {
			l.rdMu.Unlock()
			l.ports.putBatch(b)
			b = nil
			return false
		}
		return true
	}
	w := newRelayScratch()
	for {
		if err := l.raw.Read(read); err != nil {
			if l.readFailed(err, iv) {
				if b != nil {
					l.ports.putBatch(b)
				}
				return
			}
			continue
		}
		if errno != 0 {
			l.rdMu.Unlock()
			l.dropped.Add(1) // e.g. ECONNREFUSED from an earlier send
			continue
		}
		drained = n < batchLen
		l.noteWait(b, n)
		l.relay(b, n, w)
		l.rdMu.Unlock()
		l.pressedAll(w)
		l.ports.putBatch(b)
		b = nil
	}
}
