//go:build linux

// Package krelay is Hotline's in-kernel RTP relay: a TC program on the
// ingress of the interfaces RTP arrives on rewrites the packets of an
// installed flow (a leg's address, from its latched remote, with the leg's
// audio payload type) to the bridged leg's remote and sends them on, so
// the packet never reaches Hotline's socket. A copy of each relayed packet,
// as received, goes into a ring buffer that Run reads in batches, for the
// recorder and the leg's counters.
//
// Whatever the program does not take (an unknown address, another
// source, another payload type such as a telephone-event, a packet longer
// than a ring record) reaches the leg's socket unchanged and the
// user-space relay handles it. A packet that finds the ring full is
// relayed all the same, without its copy (Packet.Missed, Remove). The
// attachment is tied to the Relay's file descriptors: when the process
// ends, for any reason, the kernel detaches the program and every packet
// goes to the sockets again.
//
// It needs Linux 6.6 or later (tcx) and CAP_BPF with CAP_NET_ADMIN.
// The BPF object is built from bpf/relay.bpf.c by `make bpf` and committed.
package krelay

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

//go:embed relay_bpfel.o
var object []byte

// DataMax is the longest RTP packet (header and payload) the kernel
// relays; longer ones go to the leg's socket.
const DataMax = 320

// recordLen is the size of struct record in relay.bpf.c; recordHdr its
// fields before the packet. A packet of up to smallMax bytes takes a small
// record, of recordHdr+smallMax bytes (SMALL_MAX).
const (
	recordHdr = 16
	recordLen = recordHdr + DataMax
	smallMax  = 176
)

// The ring buffer to user space holds a second of every leg's audio
// (50 packets/s each) in full-size records, for when its reader is held
// up (a full ring relays packets without their copies), within these
// bounds; its size is a power of two. 20 ms G.711 packets take small
// records (200 bytes with the ring's header, against 344): 1.7 s of
// every leg's audio, and 64 MiB is 1.3 s of 2,500 calls both ways.
const (
	minRingBytes = 4 << 20
	maxRingBytes = 64 << 20
	slotBytes    = 8 + recordLen // a record and the ring's header
)

// RingBytes is the ring's size for legs legs.
func RingBytes(legs int) int {
	want := legs * 50 * slotBytes
	n := minRingBytes
	for n < want && n < maxRingBytes {
		n <<= 1
	}
	return n
}

// Flow is what the kernel does with the packets sent to one leg's address.
type Flow struct {
	// ID names the leg in Packets.
	ID uint32
	// From is the leg's latched remote: only its packets are relayed.
	From netip.AddrPort
	// PT is the leg's audio payload type: packets with another go up.
	PT uint8
	// OutFrom is the bridged leg's own address, the relayed packet's
	// source, and OutTo the bridged leg's remote, its destination.
	OutFrom, OutTo netip.AddrPort
	// OutPT is the bridged leg's audio payload type, written into the
	// relayed packet.
	OutPT uint8
	// Ifindex is the interface to send the relayed packet out of; 0
	// delivers it on this host (OutTo is a local address).
	Ifindex int
}

// flowValue is struct flow of relay.bpf.c (addresses and ports in network
// byte order).
type flowValue struct {
	SrcAddr  [4]byte
	SrcPort  [2]byte
	OutSport [2]byte
	OutSaddr [4]byte
	OutDaddr [4]byte
	OutDport [2]byte
	PT       uint8
	OutPT    uint8
	ID       uint32
	Ifindex  uint32
	_        [4]byte
	Packets  uint64
	Bytes    uint64
	Missed   uint64
}

type flowKey struct {
	Addr [4]byte
	Port [2]byte
	_    [2]byte
}

// Packet is one relayed packet, as received by the leg ID.
type Packet struct {
	ID uint32
	// Missed is how many of the leg's packets the kernel relayed just
	// before this one without a copy, as the ring was full: audio its
	// recorder never gets.
	Missed uint16
	// At is its arrival.
	At time.Time
	// Data is the RTP packet, valid until the handler returns.
	Data []byte
}

// Errors.
var (
	// ErrClosed: the relay was closed.
	ErrClosed = errors.New("krelay: closed")
	// ErrUnsupported: the address is not IPv4 (the program handles IPv4).
	ErrUnsupported = errors.New("krelay: only IPv4 flows are relayed in the kernel")
)

// Relay is the loaded program, attached to some interfaces.
type Relay struct {
	coll     *ebpf.Collection
	flows    *ebpf.Map
	counters *ebpf.Map
	links    []link.Link
	ring     *ringbuf.Reader

	// the clocks at load: ktime (CLOCK_MONOTONIC) and Go's
	mono0 int64
	now0  time.Time

	mu      sync.Mutex
	active  map[flowKey]struct{} // flows installed: Run polls while there are any
	running bool                 // Run started: Close waits for it before unmapping the ring
	ended   bool                 // Close was called: Run does not start

	// maps is held (read) while the flow table or the counters are used,
	// and by Close (write) to close them: a metrics scrape during a
	// shutdown reads no closed map.
	maps       sync.RWMutex
	mapsClosed bool

	kick    chan struct{}      // Install or Remove: read the ring now (capacity 1)
	syncs   chan chan struct{} // Sync's requests, answered after a read
	closed  chan struct{}      // Close was called
	stopped chan struct{}      // Run returned

	closeOnce sync.Once
}

// Open loads the program, with a ring (RingBytes) and a flow table for as
// many legs (0: as many as 65,536), and attaches it to the ingress of each
// interface.
func Open(legs int, ifaces ...string) (*Relay, error) {
	if len(ifaces) == 0 {
		return nil, errors.New("krelay: no interface to attach to")
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(object))
	if err != nil {
		return nil, fmt.Errorf("krelay: read the BPF object: %w", err)
	}
	spec.Maps["ring"].MaxEntries = uint32(RingBytes(legs))
	if legs > 0 && legs < int(spec.Maps["flows"].MaxEntries) {
		// A flow per leg at most. A table no larger than that keeps the
		// lookup every packet on the interface makes in the CPU's caches:
		// at 65,536 entries it was 3% of the machine under 1,500 calls.
		spec.Maps["flows"].MaxEntries = uint32(legs)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, fmt.Errorf("krelay: load the BPF program: %w", err)
	}
	r := &Relay{coll: coll, flows: coll.Maps["flows"], counters: coll.Maps["counters"],
		active: make(map[flowKey]struct{}), kick: make(chan struct{}, 1), syncs: make(chan chan struct{}),
		closed: make(chan struct{}), stopped: make(chan struct{})}
	for _, name := range ifaces {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("krelay: interface %q: %w", name, err)
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: coll.Programs["relay"], Attach: ebpf.AttachTCXIngress})
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("krelay: attach to the ingress of %s: %w", name, err)
		}
		r.links = append(r.links, l)
	}
	if r.ring, err = ringbuf.NewReader(coll.Maps["ring"]); err != nil {
		r.Close()
		return nil, fmt.Errorf("krelay: open the ring buffer: %w", err)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		r.Close()
		return nil, fmt.Errorf("krelay: read the clock: %w", err)
	}
	r.now0, r.mono0 = time.Now(), ts.Nano()
	return r, nil
}

// Close detaches the program and frees its maps; Run returns.
func (r *Relay) Close() error {
	var errs []error
	r.closeOnce.Do(func() {
		r.mu.Lock()
		running := r.running
		r.ended = true
		r.mu.Unlock()
		close(r.closed)
		if running {
			<-r.stopped // Run reads the ring without its lock (AvailableBytes)
		}
		for _, l := range r.links {
			errs = append(errs, l.Close())
		}
		if r.ring != nil {
			errs = append(errs, r.ring.Close())
		}
		r.maps.Lock()
		r.mapsClosed = true
		r.coll.Close()
		r.maps.Unlock()
	})
	return errors.Join(errs...)
}

func v4(a netip.Addr) ([4]byte, bool) {
	a = a.Unmap()
	if !a.Is4() {
		return [4]byte{}, false
	}
	return a.As4(), true
}

func port(p uint16) (b [2]byte) {
	binary.BigEndian.PutUint16(b[:], p)
	return b
}

func key(at netip.AddrPort) (flowKey, error) {
	a, ok := v4(at.Addr())
	if !ok {
		return flowKey{}, ErrUnsupported
	}
	return flowKey{Addr: a, Port: port(at.Port())}, nil
}

// Install relays in the kernel what reaches at (a leg's own address, as
// its remote sends to it) as f says, replacing any flow for at (and its
// counts: Remove it first to keep them).
func (r *Relay) Install(at netip.AddrPort, f Flow) error {
	k, err := key(at)
	if err != nil {
		return err
	}
	v := flowValue{SrcPort: port(f.From.Port()), OutSport: port(f.OutFrom.Port()), OutDport: port(f.OutTo.Port()),
		PT: f.PT & 0x7f, OutPT: f.OutPT & 0x7f, ID: f.ID, Ifindex: uint32(f.Ifindex)}
	var ok1, ok2, ok3 bool
	v.SrcAddr, ok1 = v4(f.From.Addr())
	v.OutSaddr, ok2 = v4(f.OutFrom.Addr())
	v.OutDaddr, ok3 = v4(f.OutTo.Addr())
	if !ok1 || !ok2 || !ok3 {
		return ErrUnsupported
	}
	if err := r.use(func() error { return r.flows.Put(k, v) }); err != nil {
		return fmt.Errorf("krelay: install the flow for %s: %w", at, err)
	}
	r.mu.Lock()
	first := len(r.active) == 0
	r.active[k] = struct{}{}
	r.mu.Unlock()
	if first {
		r.wake()
	}
	return nil
}

// wake has Run read the ring now.
func (r *Relay) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// FlowStats are a flow's counts since it was installed.
type FlowStats struct {
	// Packets and Bytes (RTP) the kernel relayed.
	Packets, Bytes uint64
	// Missed is how many of those it relayed without a copy (a full
	// ring) that no Packet's Missed has told yet.
	Missed uint64
}

// Remove stops relaying what reaches at in the kernel; it returns the
// flow's counts. Removing a flow that is not installed is not an error
// (zero counts).
func (r *Relay) Remove(at netip.AddrPort) (FlowStats, error) {
	k, err := key(at)
	if err != nil {
		return FlowStats{}, err
	}
	var v flowValue
	err = r.use(func() error { return r.flows.LookupAndDelete(k, &v) })
	r.mu.Lock()
	_, had := r.active[k]
	delete(r.active, k)
	r.mu.Unlock()
	if had {
		r.wake() // its last copies reach the leg before the socket's packets
	}
	if err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return FlowStats{}, nil
		}
		return FlowStats{}, fmt.Errorf("krelay: remove the flow for %s: %w", at, err)
	}
	return v.stats(), nil
}

func (v *flowValue) stats() FlowStats {
	return FlowStats{Packets: v.Packets, Bytes: v.Bytes, Missed: v.Missed}
}

// Stats returns the flow for at's counts so far.
func (r *Relay) Stats(at netip.AddrPort) (FlowStats, error) {
	k, err := key(at)
	if err != nil {
		return FlowStats{}, err
	}
	var v flowValue
	if err := r.use(func() error { return r.flows.Lookup(k, &v) }); err != nil {
		return FlowStats{}, fmt.Errorf("krelay: look up the flow for %s: %w", at, err)
	}
	return v.stats(), nil
}

// use runs f, which uses the maps, unless Close has closed them
// (ErrClosed).
func (r *Relay) use(f func() error) error {
	r.maps.RLock()
	defer r.maps.RUnlock()
	if r.mapsClosed {
		return ErrClosed
	}
	return f()
}

// Counters sums the program's counters over the CPUs.
func (r *Relay) Counters() (Counters, error) {
	var c [3]uint64
	for i := range c {
		var per []uint64
		if err := r.use(func() error { return r.counters.Lookup(uint32(i), &per) }); err != nil {
			return Counters{}, fmt.Errorf("krelay: read counter %d: %w", i, err)
		}
		for _, n := range per {
			c[i] += n
		}
	}
	return Counters{Relayed: c[0], RingFull: c[1], TooLong: c[2]}, nil
}

// batchMax is the most packets Run hands over in one call.
const batchMax = 256

// pollEvery is how often Run reads the ring while flows are installed.
// The program submits its copies without waking the reader: a wake-up is
// an interrupt raised on the relaying CPU for each packet that finds the
// reader caught up, which on a VM costs more than the relaying itself.
// So Run polls, and a packet reaches the leg's counters and recorder up to
// pollEvery after the kernel relayed it, stamped with its arrival.
const pollEvery = 5 * time.Millisecond

// Run reads the ring buffer until Close and hands handle the packets read
// in one go (at most batchMax), in the order the kernel relayed them: every
// pollEvery while a flow is installed, at once after Install or Remove,
// and for Sync. waited, if not nil, is told at each read that took any
// copy how long the oldest one had waited in the ring since the kernel
// relayed it: a reader held up, every read finding old copies, delivers
// the legs' counters and recorders their audio late, and once the ring
// is full the kernel relays the packets without their copies. It
// returns nil after Close.
func (r *Relay) Run(handle func([]Packet), waited func(time.Duration)) error {
	r.mu.Lock()
	if r.ended || r.running {
		r.mu.Unlock()
		return nil
	}
	r.running = true
	r.mu.Unlock()
	defer close(r.stopped)
	var (
		recs  = make([]ringbuf.Record, batchMax) // each keeps its buffer: one copy out of the ring
		batch = make([]Packet, 0, batchMax)
	)
	// A deadline in the past: ReadInto returns what the ring holds, then
	// os.ErrDeadlineExceeded instead of waiting.
	r.ring.SetDeadline(time.Unix(0, 1))
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var synced chan struct{} // a Sync waiting for this read
	for {
		err := r.read(recs, batch, handle, waited)
		if synced != nil {
			close(synced)
			synced = nil
		}
		if err != nil {
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
		r.mu.Lock()
		idle := len(r.active) == 0
		r.mu.Unlock()
		ticks := tick.C
		if idle {
			ticks = nil
		}
		select {
		case <-r.closed:
			return nil
		case <-ticks:
		case <-r.kick:
		case synced = <-r.syncs:
		}
	}
}

// read hands handle what the ring holds now, and waited the oldest copy's
// wait.
func (r *Relay) read(recs []ringbuf.Record, batch []Packet, handle func([]Packet), waited func(time.Duration)) error {
	if r.ring.AvailableBytes() == 0 {
		return nil
	}
	first := true
	for {
		rec := &recs[len(batch)]
		err := r.ring.ReadInto(rec)
		if err == nil {
			if s := rec.RawSample; len(s) >= recordHdr {
				id := binary.NativeEndian.Uint32(s[0:])
				n := int(binary.NativeEndian.Uint16(s[4:]))
				missed := binary.NativeEndian.Uint16(s[6:])
				ns := int64(binary.NativeEndian.Uint64(s[8:]))
				if n <= DataMax && recordHdr+n <= len(s) {
					at := r.now0.Add(time.Duration(ns - r.mono0))
					if first && waited != nil {
						waited(time.Since(at))
					}
					first = false
					batch = append(batch, Packet{ID: id, Missed: missed, At: at, Data: s[recordHdr : recordHdr+n]})
				}
			}
		}
		if len(batch) > 0 && (err != nil || len(batch) == batchMax) {
			handle(batch)
			clear(batch)
			batch = batch[:0]
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		case errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed):
			return err
		default:
			return fmt.Errorf("krelay: read the ring buffer: %w", err)
		}
	}
}

// Sync returns once Run has handed over every copy the ring held when Sync
// was called (or Run has stopped): for a leg that ends, so that the last
// of its audio reaches its recorder.
func (r *Relay) Sync() {
	done := make(chan struct{})
	select {
	case r.syncs <- done:
	case <-r.stopped:
		return
	case <-r.closed:
		return
	}
	select {
	case <-done:
	case <-r.stopped:
	}
}
