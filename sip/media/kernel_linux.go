//go:build linux

package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"hotline/sip/media/krelay"
)

// kernel is a Ports' in-kernel relay (rtp.kernel): the legs it serves, by
// RTP port, for the ring's copies, and the interfaces that reach a
// destination.
type kernel struct {
	r     *krelay.Relay
	log   *slog.Logger
	first int
	legs  []atomic.Pointer[Leg] // by (port-first)/2
	done  chan struct{}
	ifs   sync.Map // netip.Addr → int: the interface to send to it out of (0: this host)
	many  [][]byte // the ring goroutine's: a run of packets for a BatchTap
	// latched is the ring goroutine's, by slot: the leg's remote last
	// seen latched there. A copy from a leg whose remote is still that
	// one needs no latch check, so the ring goroutine compares pointers
	// instead of reading the remote (a cache miss a packet, at
	// thousands of legs).
	latched []*remote
	// lag is the ring reader's standing wait: the oldest copy each read
	// took (Ports.TakeReadDelay).
	lag readWait
}

// kernelIfaces is where the relay's program goes for legs bound to bind:
// the loopback (where this host's own traffic to any of its addresses
// arrives) and the interface that has bind, or every interface that is up
// when bind is unspecified.
func kernelIfaces(bind netip.Addr) ([]string, error) {
	ifcs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, ifc := range ifcs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		if ifc.Flags&net.FlagLoopback != 0 || bind.IsUnspecified() || hasAddr(ifc, bind) {
			names = append(names, ifc.Name)
		}
	}
	return names, nil
}

// hasAddr reports whether a is one of ifc's addresses.
func hasAddr(ifc net.Interface, a netip.Addr) bool {
	addrs, _ := ifc.Addrs()
	for _, ia := range addrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr().Unmap() == a {
			return true
		}
	}
	return false
}

// StartKernel relays bridged legs' audio in the kernel from now on
// (rtp.kernel; Linux 6.6 or later, CAP_BPF and CAP_NET_ADMIN): legs of cfg
// whose bridge needs no transcoding and no monitor mix, once both ends
// are known. Close stops it.
func (p *Ports) StartKernel(cfg *Config, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bind, _, err := cfg.addrs()
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if !bind.Is4() {
		return fmt.Errorf("media: the kernel relay handles IPv4, rtp.ip is %s", bind)
	}
	names, err := kernelIfaces(bind)
	if err != nil {
		return fmt.Errorf("media: list interfaces: %w", err)
	}
	r, err := krelay.Open(p.pairs(), names...)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	k := &kernel{r: r, log: log, first: p.first, done: make(chan struct{})}
	k.lag.init()
	if p.pairs() > 0 {
		k.legs = make([]atomic.Pointer[Leg], p.pairs())
		k.latched = make([]*remote, p.pairs())
	}
	go func() {
		defer close(k.done)
		if err := r.Run(k.handle, k.lag.note); err != nil {
			log.Error("kernel relay: ring buffer", "error", err)
		}
	}()
	p.kern.Store(k)
	log.Info("rtp relayed in the kernel", "interfaces", names)
	return nil
}

// Close stops the kernel relay, if started: the program leaves the
// interfaces and every packet reaches the legs' sockets again.
func (p *Ports) Close() error {
	k := p.kern.Swap(nil)
	if k == nil {
		return nil
	}
	err := k.r.Close()
	<-k.done
	return err
}

// takeLag is the relay's ring reader's standing wait (readWait.take); no
// reads without the relay (k nil).
func (k *kernel) takeLag() (time.Duration, int64) {
	if k == nil {
		return 0, 0
	}
	return k.lag.take()
}

// KernelStats are the kernel relay's counters; ok is false when it is
// not running.
func (p *Ports) KernelStats() (c krelay.Counters, ok bool) {
	k := p.kern.Load()
	if k == nil {
		return c, false
	}
	c, err := k.r.Counters()
	return c, err == nil
}

func (k *kernel) slot(port int) *atomic.Pointer[Leg] {
	if i, ok := k.index(port); ok {
		return &k.legs[i]
	}
	return nil
}

// index is port's slot in k.legs.
func (k *kernel) index(port int) (int, bool) {
	i := (port - k.first) / 2
	return i, port >= k.first && i < len(k.legs)
}

// handle takes a read of the ring: runs of one leg's packets go to it.
func (k *kernel) handle(pkts []krelay.Packet) {
	for len(pkts) > 0 {
		n := 1
		for n < len(pkts) && pkts[n].ID == pkts[0].ID {
			n++
		}
		if i, ok := k.index(int(pkts[0].ID)); ok {
			if l := k.legs[i].Load(); l != nil {
				if r := l.remote.Load(); r != nil && r != k.latched[i] {
					if r.latched {
						k.latched[i] = r
					} else {
						// Relayed from the SDP's address before any
						// packet reached the socket: latched there, so
						// a later packet from elsewhere is dropped, as
						// after a first packet read in user space.
						l.latch(r, r.dest)
					}
				}
				k.many = l.kernelPackets(pkts[:n], k.many)
			}
		}
		pkts = pkts[n:]
	}
}

// ifindex is the interface a relayed packet to dst leaves by, 0 for this
// host's own addresses (delivered on the loopback).
func (k *kernel) ifindex(dst netip.Addr) (int, error) {
	if dst.IsLoopback() {
		return 0, nil
	}
	if v, ok := k.ifs.Load(dst); ok {
		return v.(int), nil
	}
	// The route's source address names the interface.
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return 0, err
	}
	src := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	_ = c.Close()
	idx := -1
	if src == dst { // one of ours
		idx = 0
	} else if ifcs, err := net.Interfaces(); err == nil {
		for _, ifc := range ifcs {
			if hasAddr(ifc, src) {
				idx = ifc.Index
			}
		}
	}
	if idx < 0 {
		return 0, fmt.Errorf("no interface has %s, the route's source to %s", src, dst)
	}
	k.ifs.Store(dst, idx)
	return idx, nil
}

// kernelState is a leg's part in the kernel relay, guarded by its mutex.
type kernelState struct {
	mu   sync.Mutex
	on   bool // a flow is installed for the leg
	was  bool // a flow was installed at some time: the ring may hold copies
	dead bool // the leg ended: nothing more is installed
	flow krelay.Flow
}

// kernelFlow is what the kernel should do with the leg's packets now; ok
// is false if it should leave them to the socket. Before the leg has
// latched, the flow takes packets from the SDP's address: the kernel
// relays from the first packet, however far behind the readers are
// (the ring goroutine then latches the leg there); a packet from elsewhere
// reaches the socket, and latching on it replaces the flow.
func (l *Leg) kernelFlow(k *kernel) (f krelay.Flow, ok bool) {
	r := l.remote.Load()
	peer := l.peer.Load()
	if !r.canSend() || peer == nil || l.mix.Load() != nil {
		return f, false
	}
	pr := peer.remote.Load()
	if !pr.canSend() || pr.f.Encoding != r.f.Encoding || peer.ports != l.ports {
		return f, false
	}
	idx, err := k.ifindex(pr.dest.Addr())
	if err != nil {
		l.log.Debug("kernel relay: no route", "to", pr.dest, "error", err)
		return f, false
	}
	return krelay.Flow{ID: uint32(l.port), From: r.dest, PT: r.f.PT,
		OutFrom: peer.kaddr, OutTo: pr.dest, OutPT: pr.f.PT, Ifindex: idx}, true
}

// syncKernel installs, replaces or removes the leg's flow to match its
// state now. Every change the flow depends on (latching, remote, bridge,
// monitor, end) calls it, for the leg and its peer.
func (l *Leg) syncKernel() {
	if l == nil || l.ports == nil {
		return
	}
	k := l.ports.kern.Load()
	if k == nil {
		return
	}
	ks := &l.kstate
	ks.mu.Lock()
	defer ks.mu.Unlock()
	at := l.kaddr
	f, ok := l.kernelFlow(k)
	if ks.dead {
		ok = false
	}
	switch {
	case ok && ks.on && f == ks.flow:
	case ok:
		if ks.on {
			// Installing over the flow would lose its count of copies
			// missed.
			l.removeFlow(k, at)
		}
		if err := k.r.Install(at, f); err != nil {
			if !errors.Is(err, krelay.ErrUnsupported) {
				l.log.Warn("kernel relay: install", "error", err)
			}
			ok = false
		}
		ks.on, ks.flow = ok, f
		ks.was = ks.was || ok
	case ks.on:
		l.removeFlow(k, at)
		ks.on = false
	}
}

// removeFlow removes the leg's flow (l.kstate.mu held) and tells its tap
// of the packets the kernel relayed without their copies that no later
// copy has told (the ring was full until the flow's end).
func (l *Leg) removeFlow(k *kernel, at netip.AddrPort) {
	st, err := k.r.Remove(at)
	if err != nil {
		l.log.Warn("kernel relay: remove", "error", err)
		return
	}
	if st.Missed > 0 {
		l.packetsIn.Add(st.Missed)
		if peer := l.peer.Load(); peer != nil {
			peer.packetsOut.Add(st.Missed)
		}
		l.tap.Load().give(0, st.Missed, nil, nil)
	}
}

// relayedFromSDP reports whether the kernel has relayed packets for the
// leg from the address its flow takes them from (before the leg latched:
// the SDP's).
func (l *Leg) relayedFromSDP() bool {
	if l.ports == nil || !l.kstate.isOn() {
		return false
	}
	k := l.ports.kern.Load()
	if k == nil {
		return false
	}
	st, err := k.r.Stats(l.kaddr)
	return err == nil && st.Packets > 0
}

func (ks *kernelState) isOn() bool {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.on
}

// registerKernel makes the ring's copies for the leg's port reach it.
func (l *Leg) registerKernel() {
	if k := l.ports.kern.Load(); k != nil {
		if s := k.slot(l.port); s != nil {
			s.Store(l)
		}
	}
}

// endKernel removes the leg's flow for good, hands the leg the copies the
// ring still holds and stops its copies, before its port can be reused.
// It reports whether the kernel relayed the leg's packets at some time
// (packets may then have reached its socket since the flow was removed).
func (l *Leg) endKernel() (was bool) {
	if l.ports == nil {
		return false
	}
	l.kstate.mu.Lock()
	l.kstate.dead = true
	was = l.kstate.was // final: nothing is installed once dead
	l.kstate.mu.Unlock()
	l.syncKernel()
	if k := l.ports.kern.Load(); k != nil {
		if s := k.slot(l.port); s != nil && s.Load() == l {
			if was {
				k.r.Sync() // the copies still in the ring reach the leg's recorder
			}
			s.CompareAndSwap(l, nil)
		}
	}
	return was
}

// kernelPackets accounts for packets the kernel relayed from the leg to
// its peer (copies, as received, and those relayed without a copy before
// them) and gives them to the leg's tap; many is scratch space for a
// BatchTap, returned emptied for the next call.
func (l *Leg) kernelPackets(pkts []krelay.Packet, many [][]byte) [][]byte {
	var nbytes, missed uint64
	l.rxMu.Lock()
	for i := range pkts {
		p := pkts[i].Data
		now := int64(pkts[i].At.Sub(l.epoch)) + 1
		nbytes += uint64(len(p))
		if m := pkts[i].Missed; m > 0 {
			// Relayed without a copy, not lost on the way: no gap.
			missed += uint64(m)
			l.rx.seq += m
		}
		l.countLoss(p)
		l.measureJitter(p, now)
	}
	l.rxMu.Unlock()
	last := pkts[len(pkts)-1].At
	l.packetsIn.Add(uint64(len(pkts)) + missed)
	l.bytesIn.Add(nbytes)
	l.lastPacket.Store(int64(last.Sub(l.epoch)) + 1)
	if peer := l.peer.Load(); peer != nil {
		peer.packetsOut.Add(uint64(len(pkts)) + missed)
		peer.bytesOut.Add(nbytes)
	}
	return l.tap.Load().give(len(pkts), missed, func(i int) ([]byte, time.Time) { return pkts[i].Data, pkts[i].At }, many)
}
