package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"hotline/internal/rxstamp"
)

// Ports hands out even RTP ports (and port+1 for RTCP) from a range,
// rotating through it so a port just released is not reused at once, and
// skipping ports the operating system refuses. It is safe for concurrent use.
type Ports struct {
	first, last int // first and last RTP port, both even; last < first means empty

	mu   sync.Mutex
	next int // next RTP port to try
	held map[int]struct{}

	batches sync.Pool              // *batch: receive and send buffers, held only while packets are in hand
	readers readers                // the shared RTP readers of its legs (rtp.readers ≥ 0)
	kern    atomic.Pointer[kernel] // the in-kernel relay (StartKernel); nil: off
	wait    readWait               // RTP datagrams' wait in the legs' sockets (TakeReadDelay)
}

// NewPorts returns an allocator for RTP/RTCP pairs within [min, max]: RTP
// ports are the even ports p with min <= p and p+1 <= max.
func NewPorts(min, max int) *Ports {
	first := min + min&1
	if first < 2 {
		first = 2
	}
	last := max - 1
	if last > 65534 {
		last = 65534
	}
	last -= last & 1
	p := &Ports{first: first, last: last, next: first, held: map[int]struct{}{}}
	p.wait.init()
	return p
}

// InUse returns how many port pairs are currently held.
func (p *Ports) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.held)
}

func (p *Ports) pairs() int {
	if p.last < p.first {
		return 0
	}
	return (p.last-p.first)/2 + 1
}

// reserve marks the next free pair as held and returns its RTP port.
func (p *Ports) reserve() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.pairs() {
		port := p.next
		p.next += 2
		if p.next > p.last {
			p.next = p.first
		}
		if _, busy := p.held[port]; !busy {
			p.held[port] = struct{}{}
			return port, true
		}
	}
	return 0, false
}

func (p *Ports) release(port int) {
	p.mu.Lock()
	delete(p.held, port)
	p.mu.Unlock()
}

// open binds an RTP and an RTCP socket on ip. Pairs the system refuses
// (in use by another program, or forbidden) are skipped.
func (p *Ports) open(ip netip.Addr) (rtp, rtcp *net.UDPConn, port int, err error) {
	network := "udp4"
	if !ip.Is4() {
		network = "udp6"
	}
	for range p.pairs() {
		port, ok := p.reserve()
		if !ok {
			break
		}
		rtp, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err == nil {
			rxstamp.Enable(rtp) // the RTP read delay (Ports.TakeReadDelay)
			rtcp, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port+1))))
			if err == nil {
				return rtp, rtcp, port, nil
			}
			_ = rtp.Close()
		}
		p.release(port)
		if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EACCES) {
			return nil, nil, 0, fmt.Errorf("media: bind RTP port %d on %s: %w", port, ip, err)
		}
	}
	return nil, nil, 0, ErrNoPorts
}
