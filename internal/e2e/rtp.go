package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// ErrNoPeer is returned by UDPRecorder.SendTone when no destination is given
// and no RTP has been received yet to learn one from.
var ErrNoPeer = errors.New("e2e: no RTP peer address known")

// UDPRecorder is a minimal RTP endpoint on a free 127.0.0.1 UDP port: it
// records every RTP packet it receives (count, payload types, source, and
// the decoded PCMU/PCMA audio) and can send a tone stream from the same
// socket (symmetric RTP). Use it when a test must check what a SIPp caller
// heard: put Port() into the SDP of the SIPp scenario
// (Scenario.WithMediaPort) so the server under test sends its RTP here.
type UDPRecorder struct {
	conn *net.UDPConn
	done chan struct{}

	mu       sync.Mutex
	packets  int
	bytes    int
	pts      map[uint8]int
	samples  []int16
	lastFrom netip.AddrPort
	ssrcs    map[uint32]struct{}
	badPkts  int
	firstAt  time.Time
	lastAt   time.Time
}

// NewUDPRecorder binds an RTP recorder on an even free UDP port of
// 127.0.0.1 and starts receiving. It is closed by t.Cleanup.
func NewUDPRecorder(t testing.TB) *UDPRecorder {
	t.Helper()
	var conn *net.UDPConn
	var err error
	for range 50 {
		p, perr := freePort("udp")
		if perr != nil {
			err = perr
			continue
		}
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p &^ 1})
		if err == nil {
			break
		}
	}
	if conn == nil {
		t.Fatalf("e2e: NewUDPRecorder: %v", err)
	}
	r := &UDPRecorder{
		conn:  conn,
		done:  make(chan struct{}),
		pts:   map[uint8]int{},
		ssrcs: map[uint32]struct{}{},
	}
	go r.readLoop()
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// Port returns the local UDP port (put it into the SDP m= line).
func (r *UDPRecorder) Port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

// Addr returns the local address.
func (r *UDPRecorder) Addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Close stops receiving and releases the socket; recorded data stays
// readable.
func (r *UDPRecorder) Close() error {
	err := r.conn.Close()
	<-r.done
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("e2e: close recorder: %w", err)
	}
	return nil
}

func (r *UDPRecorder) readLoop() {
	defer close(r.done)
	buf := make([]byte, 2048)
	var pkt rtp.Packet
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		now := time.Now()
		r.mu.Lock()
		if err := pkt.Unmarshal(buf[:n]); err != nil || pkt.Version != 2 {
			r.badPkts++
			r.mu.Unlock()
			continue
		}
		if r.packets == 0 {
			r.firstAt = now
		}
		r.lastAt = now
		r.packets++
		r.bytes += len(pkt.Payload)
		r.pts[pkt.PayloadType]++
		r.ssrcs[pkt.SSRC] = struct{}{}
		r.lastFrom = from
		if pkt.PayloadType == PayloadPCMU || pkt.PayloadType == PayloadPCMA {
			r.samples, _ = DecodeG711(r.samples, pkt.PayloadType, pkt.Payload)
		}
		r.mu.Unlock()
	}
}

// RTPStats is a snapshot of what a UDPRecorder received.
type RTPStats struct {
	Packets      int           // valid RTP packets
	PayloadBytes int           // sum of payload sizes
	PayloadTypes map[uint8]int // packets per payload type
	SSRCs        int           // distinct SSRCs seen
	Invalid      int           // datagrams that were not RTP v2
	From         netip.AddrPort
	Span         time.Duration // time from the first to the last packet
}

// Stats returns a snapshot of the reception counters.
func (r *UDPRecorder) Stats() RTPStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	pts := make(map[uint8]int, len(r.pts))
	for k, v := range r.pts {
		pts[k] = v
	}
	return RTPStats{
		Packets: r.packets, PayloadBytes: r.bytes, PayloadTypes: pts,
		SSRCs: len(r.ssrcs), Invalid: r.badPkts, From: r.lastFrom,
		Span: r.lastAt.Sub(r.firstAt),
	}
}

// Samples returns a copy of the decoded G.711 audio received so far (8 kHz,
// in arrival order, without gap filling).
func (r *UDPRecorder) Samples() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.samples...)
}

// WaitPackets waits until at least n RTP packets have arrived.
func (r *UDPRecorder) WaitPackets(ctx context.Context, n int) error {
	tk := time.NewTicker(10 * time.Millisecond)
	defer tk.Stop()
	for {
		if r.Stats().Packets >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("e2e: waiting for %d RTP packets (got %d): %w", n, r.Stats().Packets, ctx.Err())
		case <-tk.C:
		}
	}
}

// SendTone sends dur of a freqHz tone as G.711 (payload type pt) RTP in
// 20 ms packets, paced in real time, from the recorder's socket to dst. If
// dst is invalid (zero value) it sends to the source of the last received
// RTP packet. It returns when done or when ctx ends.
func (r *UDPRecorder) SendTone(ctx context.Context, dst netip.AddrPort, freqHz float64, dur time.Duration, pt uint8) error {
	if !dst.IsValid() {
		dst = r.Stats().From
		if !dst.IsValid() {
			return ErrNoPeer
		}
	}
	if !dst.Addr().IsLoopback() {
		return fmt.Errorf("e2e: refusing to send RTP to non-loopback %s", dst)
	}
	samples := ToneSamples(freqHz, dur, G711Rate, 0)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: 1, Timestamp: 8000, SSRC: 0x52454344, Marker: true}}
	buf := make([]byte, 12+SamplesPerFrame)
	tk := time.NewTicker(FrameDuration)
	defer tk.Stop()
	for off := 0; off < len(samples); off += SamplesPerFrame {
		payload, err := EncodeG711(pt, samples[off:min(off+SamplesPerFrame, len(samples))])
		if err != nil {
			return err
		}
		pkt.Payload = payload
		n, err := pkt.MarshalTo(buf)
		if err != nil {
			return fmt.Errorf("e2e: marshal rtp: %w", err)
		}
		if _, err := r.conn.WriteToUDPAddrPort(buf[:n], dst); err != nil {
			return fmt.Errorf("e2e: send rtp: %w", err)
		}
		pkt.Marker = false
		pkt.SequenceNumber++
		pkt.Timestamp += SamplesPerFrame
		select {
		case <-ctx.Done():
			return fmt.Errorf("e2e: send tone: %w", ctx.Err())
		case <-tk.C:
		}
	}
	return nil
}
