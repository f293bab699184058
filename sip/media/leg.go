package media

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxCheckInterval bounds how often the media timeout is checked.
const maxCheckInterval = time.Second

// Stats are a leg's packet counters.
type Stats struct {
	PacketsIn  uint64 // valid RTP packets received from the peer
	PacketsOut uint64 // RTP packets sent to the peer (relayed or played)
	BytesIn    uint64 // bytes of PacketsIn (RTP header included)
	BytesOut   uint64 // bytes of PacketsOut
	Dropped    uint64 // packets discarded: not RTP, unknown payload type, wrong source, no remote yet
	Lost       uint64 // packets missing according to sequence numbers
	// Jitter is the interarrival jitter of received audio (RFC 3550).
	Jitter time.Duration
	// LastPacket is when the last valid packet arrived; zero if none did.
	LastPacket time.Time
}

// remote is what the leg knows of its peer. It is replaced as a whole
// (copy on write) so the packet path reads it with one atomic load.
type remote struct {
	sdp     netip.AddrPort // from the peer's SDP
	dest    netip.AddrPort // where packets go: sdp until latched, then the latched source
	latched bool
	f       Format
}

func (r *remote) canSend() bool {
	return r != nil && r.dest.Port() != 0 && r.dest.Addr().IsValid() && !r.dest.Addr().IsUnspecified()
}

// rxState is owned by the reading goroutine.
type rxState struct {
	haveTransit bool
	jitterSSRC  uint32
	transit     int32
	jitter16    int64 // jitter ×16, timestamp units
	jitter      int64 // jitter16>>4 as last published in Leg.jitter
	haveSeq     bool
	ssrc        uint32
	seq         uint16
	haveDTMF    bool
	dtmfTS      uint32
	one         [1][]byte // a single packet for a BatchTap
	many        [][]byte  // the packets of one read for a BatchTap
}

// playState is the generated stream's RTP state; it is only touched by the
// playing goroutine, one at a time (Play waits for the previous one).
type playState struct {
	ssrc uint32
	seq  uint16
	ts   uint32
	last time.Time // when the previous stream stopped; zero before the first
}

type player struct {
	stop chan struct{}
	done chan struct{}
}

// Leg is one RTP endpoint on Hotline, facing one peer (the caller or an
// agent). All methods are safe for concurrent use.
type Leg struct {
	cfg   *Config
	ports *Ports
	log   *slog.Logger
	local netip.AddrPort
	kaddr netip.AddrPort // where the peer's packets arrive: the bound IP (the announced one if bound to all) and port
	port  int
	conn  *net.UDPConn    // RTP
	raw   syscall.RawConn // conn's, for recvmmsg and sendmmsg; nil without them
	v6    bool            // conn is an IPv6 socket
	rtcp  *net.UDPConn    // bound so that nobody else takes it; drained, not used
	epoch time.Time       // monotonic reference for lastPacket and armed

	remote atomic.Pointer[remote]
	peer   atomic.Pointer[Leg] // bridged leg: where received packets go
	onDTMF atomic.Pointer[func(rune)]
	tap    atomic.Pointer[tapper]
	mix    atomic.Pointer[mixPoint] // a Monitor's hook; nil unless monitored
	hold   atomic.Bool
	// armed is when the media timeout started counting (SetRemote, SetHold,
	// Start), in ns since epoch plus one; 0 means no remote yet.
	armed atomic.Int64

	packetsIn, packetsOut atomic.Uint64
	bytesIn, bytesOut     atomic.Uint64
	dropped, lost         atomic.Uint64
	jitter                atomic.Int64 // RFC 3550 interarrival jitter, 8 kHz units
	lastPacket            atomic.Int64 // ns since epoch plus one; 0 = never

	rx   rxState
	rxMu sync.Mutex // rx's loss, jitter and DTMF state: the socket's reader and the kernel relay's ring both update it
	// rdMu is held by a batch reader (shared or the leg's own) from a
	// read of the RTP socket until what it read is relayed and tapped,
	// and by Close while it drains the socket into the tap and closes
	// it: nothing read before Close reaches the tap after it.
	rdMu   sync.Mutex
	kstate kernelState // the leg's flow in the kernel relay (rtp.kernel)
	ps     playState

	// A shared reader's (rtp.readers ≥ 0): set when Start adds the leg
	// to pl; nextCheck is guarded by pl's mutex.
	pl        *poller
	slot      int32
	nextCheck time.Time

	mu      sync.Mutex
	started bool
	closed  bool
	play    *player
	err     error
	wg      sync.WaitGroup
	done    chan struct{}
}

// Tap receives a copy-free view of every packet the leg accepts from its
// peer (after validation and latching, before any rewrite for the bridged
// leg), with its arrival time. It runs on the leg's packet goroutine: it
// must not block and must not keep pkt after returning.
type Tap func(pkt []byte, arrival time.Time)

// BatchTap is a Tap that takes, in one call, every packet the leg accepted
// from one read of its socket (one or more, in order), with the arrival
// time of the last. The same rules apply: it must not block and must keep
// neither pkts nor the packets after returning. missed is how many of
// the leg's packets just before pkts the kernel relayed without a copy
// (its ring to user space was full): audio the tap never gets. A call may
// carry missed copies and no packet (the leg's kernel flow removed since
// its last copy); a Tap is not told of them.
type BatchTap func(pkts [][]byte, missed uint64, arrival time.Time)

// TapPackets makes a BatchTap a PacketTap.
func (t BatchTap) TapPackets(pkts [][]byte, missed uint64, arrival time.Time) {
	t(pkts, missed, arrival)
}

// PacketTap is a BatchTap as an interface, under the same rules: a call
// recorder implements it on itself, so that the ring's reader goes from
// the leg to the recorder without a closure in between (one object, one
// cache miss a packet, fewer with thousands of calls).
type PacketTap interface {
	TapPackets(pkts [][]byte, missed uint64, arrival time.Time)
}

// tapper is the leg's tap: one of the two kinds.
type tapper struct {
	one  Tap
	many PacketTap
}

// SetTap installs (or, with nil, removes) the leg's tap, e.g. a call
// recorder. Safe at any time; it replaces a BatchTap.
func (l *Leg) SetTap(t Tap) {
	if t == nil {
		l.tap.Store(nil)
		return
	}
	l.tap.Store(&tapper{one: t})
}

// SetBatchTap is SetTap for a BatchTap (a call recorder then takes the
// packets of one read under one lock). Safe at any time; it replaces a Tap.
func (l *Leg) SetBatchTap(t BatchTap) {
	if t == nil {
		l.SetPacketTap(nil) // a nil func in the interface would not be nil
		return
	}
	l.SetPacketTap(t)
}

// SetPacketTap is SetBatchTap for a PacketTap (nil removes the tap).
func (l *Leg) SetPacketTap(t PacketTap) {
	if t == nil {
		l.tap.Store(nil)
		return
	}
	l.tap.Store(&tapper{many: t})
}

// NewLeg binds a new RTP/RTCP socket pair on cfg.IP with ports from ports.
// The leg does nothing until SetRemote and Start are called. log may be nil.
func NewLeg(cfg *Config, ports *Ports, log *slog.Logger) (*Leg, error) {
	if cfg == nil || ports == nil {
		return nil, errors.New("media: NewLeg needs a Config and Ports")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bind, announce, err := cfg.addrs()
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	conn, rtcp, port, err := ports.open(bind)
	if err != nil {
		return nil, err
	}
	c := *cfg // the leg's goroutines read it: keep a copy nobody else changes
	l := newLeg(&c, log)
	l.ports, l.port, l.conn, l.rtcp = ports, port, conn, rtcp
	l.v6 = !bind.Is4()
	if batching {
		if raw, err := conn.SyscallConn(); err == nil {
			l.raw = raw
		}
	}
	l.local = netip.AddrPortFrom(announce, uint16(port))
	l.log = log.With("rtp_port", port)
	l.kaddr = netip.AddrPortFrom(bind, uint16(port))
	if bind.IsUnspecified() {
		l.kaddr = l.local
	}
	l.registerKernel()
	return l, nil
}

// newLeg returns a leg without sockets (NewLeg adds them; benchmarks of the
// packet path use it bare).
func newLeg(cfg *Config, log *slog.Logger) *Leg {
	return &Leg{
		cfg:   cfg,
		log:   log,
		epoch: time.Now(),
		ps:    playState{ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32()},
		done:  make(chan struct{}),
	}
}

// since returns the monotonic time since the leg's epoch, plus one so that
// zero can mean "never".
func (l *Leg) since() int64 { return int64(time.Since(l.epoch)) + 1 }

// LocalAddr is the announce IP and the RTP port, for SDP.
func (l *Leg) LocalAddr() netip.AddrPort { return l.local }

// SetRemote sets the peer's address and format from its SDP. It may be
// called again (re-INVITE); if the address changed, latching starts over.
// Until SetRemote is called nothing is sent and everything received is
// dropped. An unspecified address (0.0.0.0) or port 0 sends nothing until
// the peer's packets latch an address.
func (l *Leg) SetRemote(addr netip.AddrPort, f Format) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	for {
		old := l.remote.Load()
		r := &remote{sdp: addr, dest: addr, f: f}
		if old != nil && old.sdp == addr && old.latched {
			r.dest, r.latched = old.dest, true
		}
		if l.remote.CompareAndSwap(old, r) {
			if old == nil || old.sdp != addr {
				l.log.Debug("rtp remote", "remote", addr)
			}
			break
		}
	}
	l.armed.Store(l.since())
	l.syncKernel()
	l.peer.Load().syncKernel()
}

// Format returns the payload format set by SetRemote; ok is false before.
func (l *Leg) Format() (f Format, ok bool) {
	if r := l.remote.Load(); r != nil {
		return r.f, true
	}
	return Format{}, false
}

// SetHold says whether the peer has put the call on hold (sendonly or
// inactive): while it has, the leg ends after HoldTimeout without RTP
// instead of Timeout.
func (l *Leg) SetHold(onHold bool) {
	if l.hold.Swap(onHold) != onHold && l.armed.Load() != 0 {
		l.armed.Store(l.since())
	}
}

// OnDTMF sets the function called with each keypad digit ('0'-'9', '*',
// '#', 'A'-'D') the peer sends as RFC 4733 telephone-events, once per key
// press, when the event ends. It runs on the leg's packet goroutine and
// must return quickly. Set it before Start.
func (l *Leg) OnDTMF(f func(digit rune)) {
	if f == nil {
		l.onDTMF.Store(nil)
		return
	}
	l.onDTMF.Store(&f)
}

// Start starts receiving: a shared reader (or, with rtp.readers -1, a
// goroutine of the leg's own) reads and relays RTP and, every check
// interval, drains RTCP and checks the media timeout. It is idempotent,
// and does nothing after Close.
func (l *Leg) Start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.closed {
		return
	}
	l.started = true
	if l.armed.Load() != 0 {
		l.armed.Store(l.since())
	}
	if l.cfg.Readers >= 0 && l.raw != nil && l.ports != nil {
		err := l.ports.readers.poller(l.cfg.Readers).add(l)
		if err == nil {
			return
		}
		l.log.Warn("rtp leg read by a goroutine of its own", "error", err)
	}
	l.wg.Add(1)
	go l.readLoop()
}

// Close stops everything, closes the sockets and releases the ports. The
// audio still on its way to the leg's tap reaches it before Close returns
// (what the socket holds, the kernel relay's copies), and the tap is
// removed: a recording finished after its legs' Close has all their
// audio, however far the readers were behind. It is idempotent and safe
// to call concurrently with any method (also from OnDTMF). It waits for a
// read of the socket in progress and for the ring's hand-over, not for
// the leg's goroutines to exit: Done is closed once they have.
func (l *Leg) Close() error { return l.end(nil) }

// Done is closed when the leg has ended (Close or media timeout) and its
// goroutines have exited.
func (l *Leg) Done() <-chan struct{} { return l.done }

// Err is ErrTimeout if the leg ended because no RTP arrived, else nil.
func (l *Leg) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Stats returns the leg's counters.
func (l *Leg) Stats() Stats {
	s := Stats{
		PacketsIn:  l.packetsIn.Load(),
		PacketsOut: l.packetsOut.Load(),
		BytesIn:    l.bytesIn.Load(),
		BytesOut:   l.bytesOut.Load(),
		Dropped:    l.dropped.Load(),
		Lost:       l.lost.Load(),
		Jitter:     time.Duration(l.jitter.Load()) * 125 * time.Microsecond,
	}
	if t := l.lastPacket.Load(); t != 0 {
		s.LastPacket = l.epoch.Add(time.Duration(t - 1))
	}
	return s
}

func (l *Leg) end(cause error) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.err = cause
	if l.play != nil {
		close(l.play.stop) // the player exits on its own; done waits for it
		l.play = nil
	}
	l.mu.Unlock()

	if l.pl != nil {
		l.pl.remove(l) // before the socket closes: its number may be reused
	}
	// The audio still on its way goes to the tap (a recording) oldest
	// first: what waits in the socket (a reader behind; a read in
	// progress finishes first), the kernel relay's copies in its ring,
	// then what reached the socket once the kernel's flow was gone.
	l.rdMu.Lock()
	defer l.rdMu.Unlock()
	l.drainRTP()
	if l.endKernel() { // before the socket closes: its port may be reused
		l.drainRTP()
	}
	if p := l.peer.Swap(nil); p != nil {
		p.peer.CompareAndSwap(l, nil)
		p.syncKernel()
	}
	var err error
	if l.conn != nil {
		err = errors.Join(l.conn.Close(), l.rtcp.Close())
		l.ports.release(l.port)
	}
	l.tap.Store(nil) // the recording is let go; a reader's last round finds the socket closed
	go func() {
		l.wg.Wait()
		close(l.done)
	}()
	if cause != nil {
		l.log.Info("rtp leg ended", "reason", cause)
	}
	return err
}

// readLoopPlain reads and relays RTP one packet at a time (where
// recvmmsg is not available). The socket's read deadline wakes it every
// check interval (whether packets flow or not) to drain the RTCP socket
// and check the media timeout, so a leg needs no other goroutine.
// readFailed handles a failed read of the leg's RTP socket (both read
// loops): the deadline ticks RTCP and the media timeout (re-armed every
// iv), any other error but a closed socket counts as a dropped packet.
// It reports whether the read loop must stop.
func (l *Leg) readFailed(err error, iv time.Duration) (stop bool) {
	switch {
	case errors.Is(err, net.ErrClosed):
		return true
	case errors.Is(err, os.ErrDeadlineExceeded):
		if l.checkMedia() {
			return true
		}
		_ = l.conn.SetReadDeadline(time.Now().Add(iv))
	default:
		l.dropped.Add(1)
	}
	return false
}

// checkMedia is the check every check interval (a read loop's deadline,
// a shared reader's sweep): it drains RTCP and ends the leg with
// ErrTimeout if its media timed out, reporting whether it did.
func (l *Leg) checkMedia() (ended bool) {
	l.drainRTCP()
	if l.timedOut() {
		_ = l.end(ErrTimeout)
		return true
	}
	return false
}

func (l *Leg) readLoopPlain() {
	defer l.wg.Done()
	buf := make([]byte, 1600)
	iv := l.checkInterval()
	_ = l.conn.SetReadDeadline(time.Now().Add(iv))
	for {
		n, src, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if l.readFailed(err, iv) {
				return
			}
			continue
		}
		if n == len(buf) { // truncated: not a sane RTP packet
			l.dropped.Add(1)
			continue
		}
		// Under rdMu, as the batch readers: a Close drains the socket
		// into the tap after this packet, not beside it.
		l.rdMu.Lock()
		peer, dst, digit, ok := l.take(buf[:n], src)
		if ok {
			peer.send(buf[:n], dst)
		}
		l.rdMu.Unlock()
		l.pressed(digit)
	}
}

func (l *Leg) send(p []byte, dst netip.AddrPort) {
	if _, err := l.conn.WriteToUDPAddrPort(p, dst); err == nil {
		l.packetsOut.Add(1)
		l.bytesOut.Add(uint64(len(p)))
	}
}

// checkInterval is how often the read loop checks the media timeout: a
// third of the shortest timeout, at most a second.
func (l *Leg) checkInterval() time.Duration {
	iv := maxCheckInterval
	for _, t := range []time.Duration{l.cfg.Timeout, l.cfg.HoldTimeout} {
		if t > 0 && t/3 < iv {
			iv = max(t/3, 10*time.Millisecond)
		}
	}
	return iv
}

// timedOut reports whether no RTP arrived for longer than the applicable
// timeout since the remote was set (or the hold state changed).
func (l *Leg) timedOut() bool {
	armed := l.armed.Load()
	if armed == 0 {
		return false
	}
	limit := l.cfg.Timeout
	if l.hold.Load() {
		limit = l.cfg.HoldTimeout
	}
	if limit <= 0 {
		return false
	}
	ref := max(armed, l.lastPacket.Load())
	return time.Duration(l.since()-ref) > limit
}
