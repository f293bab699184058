package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// Probe packets are RTP (PCMU, 20 ms, 160 bytes of payload) whose payload
// starts with the sender's wall-clock send time, the stream id and the
// stream's generation; the rest is u-law silence.
const (
	rtpHeaderLen = 12
	probePayload = 160
	probeLen     = rtpHeaderLen + probePayload
	offSendNs    = rtpHeaderLen
	offStream    = offSendNs + 8
	offGen       = offStream + 4
	// packetInterval is the packetization time: 50 packets/s per stream.
	packetInterval = 20 * time.Millisecond
	// paceSlots spreads streams over the packet interval, one slot a ms.
	paceSlots = int(packetInterval / time.Millisecond)
	// sendBatch is how many packets one sendmmsg carries: small, since
	// the packets of a batch are stamped before the call.
	sendBatch = 16
	recvBatch = 64
)

// encodeProbe writes a probe packet into p (len >= probeLen).
func encodeProbe(p []byte, seq uint16, ts, ssrc uint32, sendNs int64, id, gen uint32) {
	p[0] = 0x80
	p[1] = 0 // PCMU
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], ts)
	binary.BigEndian.PutUint32(p[8:], ssrc)
	binary.BigEndian.PutUint64(p[offSendNs:], uint64(sendNs))
	binary.BigEndian.PutUint32(p[offStream:], id)
	binary.BigEndian.PutUint32(p[offGen:], gen)
	for i := offGen + 4; i < probeLen; i++ {
		p[i] = 0xff
	}
}

// decodeProbe reads what encodeProbe wrote; ok is false for anything else.
// The payload type may have been rewritten on the way.
func decodeProbe(p []byte) (sendNs int64, id, gen uint32, ok bool) {
	if len(p) < offGen+4 || p[0]>>6 != 2 || p[0]&0x3f != 0 {
		return 0, 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(p[offSendNs:])), binary.BigEndian.Uint32(p[offStream:]),
		binary.BigEndian.Uint32(p[offGen:]), true
}

// WindowStats is what the media engine saw during a measurement window:
// packets stamped inside the window and what became of them.
type WindowStats struct {
	Duration time.Duration
	Sent     uint64 // probe packets sent, both directions
	Received uint64 // of those, received
	// Delay is one-way transit (send stamp to kernel receive stamp), µs.
	Delay Histogram
	// IPDV is |transit(n) - transit(n-1)| per stream (RFC 3393), µs.
	IPDV Histogram
	// MaxLag is how far the pacers fell behind their schedule.
	MaxLag time.Duration
}

// Lost is the number of packets sent in the window and not received.
func (w *WindowStats) Lost() uint64 {
	if w.Received >= w.Sent {
		return 0
	}
	return w.Sent - w.Received
}

// stream is one direction of a call's audio, paced by its socket's pacer.
type stream struct {
	id, gen uint32
	sock    *rtpSock
	slot    int
	dst     *net.UDPAddr
	seq     uint16
	ts      uint32
	ssrc    uint32
}

type rxState struct {
	gen  uint32
	have bool
	last int64 // transit of the previous packet, ns
}

// rtpSock is one UDP socket of the engine: it sends the streams assigned
// to it and receives whatever comes back.
type rtpSock struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn
	port int

	mu    sync.Mutex // guards slots and the streams in them
	slots [paceSlots][]*stream

	sent, sentAll atomic.Uint64
	maxLag        atomic.Int64

	rmu      sync.Mutex // guards the fields below (receiver goroutine)
	rx       []rxState
	recv     uint64
	recvAll  uint64
	delay    Histogram
	ipdv     Histogram
	kernelTS bool
}

// mediaEngine sends and receives probe RTP for many calls from a few
// sockets per side.
type mediaEngine struct {
	sides [2][]*rtpSock // sideCaller, sideAgent

	winStart, winEnd atomic.Int64 // wall ns; counted: start <= sent < end

	mu      sync.Mutex
	streams []*stream // by id; nil when free
	free    []uint32
	gen     uint32
}

const (
	sideCaller = 0
	sideAgent  = 1
)

// newMediaEngine binds perSide sockets per side on 127.0.0.1 for at most
// maxStreams streams at once.
func newMediaEngine(perSide, maxStreams int) (*mediaEngine, error) {
	e := &mediaEngine{streams: make([]*stream, maxStreams)}
	e.winStart.Store(math.MaxInt64)
	e.winEnd.Store(math.MaxInt64)
	for id := maxStreams - 1; id >= 0; id-- {
		e.free = append(e.free, uint32(id))
	}
	for side := range e.sides {
		for range perSide {
			s, err := newRTPSock(maxStreams)
			if err != nil {
				e.close()
				return nil, err
			}
			e.sides[side] = append(e.sides[side], s)
		}
	}
	return e, nil
}

func newRTPSock(maxStreams int) (*rtpSock, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(8 << 20)
	_ = conn.SetWriteBuffer(8 << 20)
	s := &rtpSock{conn: conn, pc: ipv4.NewPacketConn(conn), port: conn.LocalAddr().(*net.UDPAddr).Port, rx: make([]rxState, maxStreams)}
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			s.kernelTS = rxTimestamps(fd)
		})
	}
	return s, nil
}

// run paces and receives until ctx ends; it closes the sockets on return.
func (e *mediaEngine) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, socks := range e.sides {
		for _, s := range socks {
			wg.Add(2)
			go func() { defer wg.Done(); s.pace(ctx, e) }()
			go func() { defer wg.Done(); s.receive(e) }()
		}
	}
	<-ctx.Done()
	e.close()
	wg.Wait()
}

func (e *mediaEngine) close() {
	for _, socks := range e.sides {
		for _, s := range socks {
			_ = s.conn.Close()
		}
	}
}

// port is the RTP port of socket i of a side (what SDP announces).
func (e *mediaEngine) port(side, i int) int {
	socks := e.sides[side]
	return socks[i%len(socks)].port
}

// ErrTooManyStreams is returned by start when every stream id is in use.
var ErrTooManyStreams = errors.New("media engine: too many streams")

// start sends a stream from socket i of side to dst, 50 packets a second.
func (e *mediaEngine) start(side, i int, dst netip.AddrPort) (uint32, error) {
	e.mu.Lock()
	if len(e.free) == 0 {
		e.mu.Unlock()
		return 0, ErrTooManyStreams
	}
	id := e.free[len(e.free)-1]
	e.free = e.free[:len(e.free)-1]
	e.gen++
	socks := e.sides[side]
	st := &stream{id: id, gen: e.gen, sock: socks[i%len(socks)], slot: int(id) % paceSlots,
		dst: net.UDPAddrFromAddrPort(dst), seq: uint16(rand.Uint32()), ts: rand.Uint32(), ssrc: rand.Uint32()}
	e.streams[id] = st
	e.mu.Unlock()
	s := st.sock
	s.mu.Lock()
	s.slots[st.slot] = append(s.slots[st.slot], st)
	s.mu.Unlock()
	return id, nil
}

// stop ends a stream; its id may be reused at once.
func (e *mediaEngine) stop(id uint32) {
	e.mu.Lock()
	st := e.streams[id]
	e.mu.Unlock()
	if st == nil {
		return
	}
	s := st.sock
	s.mu.Lock()
	l := s.slots[st.slot]
	for i, x := range l {
		if x == st {
			l[i] = l[len(l)-1]
			l[len(l)-1] = nil
			s.slots[st.slot] = l[:len(l)-1]
			break
		}
	}
	s.mu.Unlock()
	e.mu.Lock()
	e.streams[id] = nil
	e.free = append(e.free, id)
	e.mu.Unlock()
}

func (e *mediaEngine) inWindow(ns int64) bool {
	return ns >= e.winStart.Load() && ns < e.winEnd.Load()
}

// beginWindow starts counting packets stamped from a moment slightly in
// the future (so that resetting the counters cannot race with counting).
func (e *mediaEngine) beginWindow() time.Time {
	start := time.Now().Add(50 * time.Millisecond)
	e.winEnd.Store(math.MaxInt64)
	e.winStart.Store(math.MaxInt64)
	for _, socks := range e.sides {
		for _, s := range socks {
			s.sent.Store(0)
			s.maxLag.Store(0)
			s.rmu.Lock()
			s.recv = 0
			s.delay.Reset()
			s.ipdv.Reset()
			s.rmu.Unlock()
		}
	}
	e.winStart.Store(start.UnixNano())
	time.Sleep(time.Until(start))
	return start
}

// endWindow closes the window, waits for packets in flight and returns
// the window's statistics.
func (e *mediaEngine) endWindow(start time.Time) WindowStats {
	end := time.Now()
	e.winEnd.Store(end.UnixNano())
	time.Sleep(300 * time.Millisecond)
	w := WindowStats{Duration: end.Sub(start)}
	for _, socks := range e.sides {
		for _, s := range socks {
			w.Sent += s.sent.Load()
			w.MaxLag = max(w.MaxLag, time.Duration(s.maxLag.Load()))
			s.rmu.Lock()
			w.Received += s.recv
			w.Delay.Merge(&s.delay)
			w.IPDV.Merge(&s.ipdv)
			s.rmu.Unlock()
		}
	}
	e.winStart.Store(math.MaxInt64)
	return w
}

// pace sends every stream of the socket once per packet interval, each
// in its slot, with sendmmsg.
func (s *rtpSock) pace(ctx context.Context, e *mediaEngine) {
	bufs := make([][]byte, sendBatch)
	msgs := make([]ipv4.Message, sendBatch)
	for i := range msgs {
		bufs[i] = make([]byte, probeLen)
		msgs[i].Buffers = [][]byte{bufs[i]}
	}
	next := time.Now()
	for slot := 0; ctx.Err() == nil; slot = (slot + 1) % paceSlots {
		next = next.Add(time.Millisecond)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		} else if -d > time.Duration(s.maxLag.Load()) {
			s.maxLag.Store(int64(-d))
		}
		if -time.Until(next) > time.Second { // hopelessly behind: resynchronise
			next = time.Now()
		}
		s.mu.Lock()
		n := 0
		for _, st := range s.slots[slot] {
			st.seq++
			st.ts += 160
			now := time.Now().UnixNano()
			encodeProbe(bufs[n], st.seq, st.ts, st.ssrc, now, st.id, st.gen)
			msgs[n].Addr = st.dst
			if e.inWindow(now) {
				s.sent.Add(1)
			}
			n++
			if n == sendBatch {
				s.flush(msgs[:n])
				n = 0
			}
		}
		s.flush(msgs[:n])
		s.mu.Unlock()
	}
}

func (s *rtpSock) flush(msgs []ipv4.Message) {
	for len(msgs) > 0 {
		n, err := s.pc.WriteBatch(msgs, 0)
		if err != nil {
			if n <= 0 {
				n = 1 // skip the packet that failed
			}
		}
		s.sentAll.Add(uint64(n))
		msgs = msgs[n:]
	}
}

// receive reads probe packets and records their transit times.
func (s *rtpSock) receive(e *mediaEngine) {
	msgs := make([]ipv4.Message, recvBatch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1500)}
		msgs[i].OOB = make([]byte, 64)
	}
	for {
		n, err := s.pc.ReadBatch(msgs, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		now := time.Now().UnixNano()
		s.rmu.Lock()
		for i := range n {
			m := &msgs[i]
			sendNs, id, gen, ok := decodeProbe(m.Buffers[0][:m.N])
			if !ok || int(id) >= len(s.rx) {
				continue
			}
			rxNs := now
			if t, ok := kernelRxTime(m.OOB[:m.NN]); ok {
				rxNs = t
			}
			transit := rxNs - sendNs
			in := e.inWindow(sendNs)
			st := &s.rx[id]
			if st.have && st.gen == gen && in {
				d := transit - st.last
				if d < 0 {
					d = -d
				}
				s.ipdv.Add(d / 1000)
			}
			st.gen, st.have, st.last = gen, true, transit
			s.recvAll++
			if in {
				s.recv++
				s.delay.Add(transit / 1000)
			}
		}
		s.rmu.Unlock()
	}
}

// String describes the engine's sockets.
func (e *mediaEngine) String() string {
	return fmt.Sprintf("%d caller and %d agent RTP sockets", len(e.sides[sideCaller]), len(e.sides[sideAgent]))
}
