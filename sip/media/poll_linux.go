//go:build linux && !nommsg

package media

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Shared readers (rtp.readers ≥ 0): a few goroutines read every leg's
// RTP socket instead of one goroutine per leg. Each reader has an epoll
// set of its own, level-triggered, whose descriptor Go's poller watches
// (an epoll set is readable while one of its sockets is): woken, the
// reader takes the ready sockets with epoll_wait(…, 0) and gives each
// one read (readReady: at most batchLen datagrams) per round, so a
// flooded leg cannot hold the others up.
//
// Why: with a goroutine per leg, thousands of goroutines are made
// runnable by the poller every 20 ms, and Go's scheduler runs runnable
// goroutines in turn. The goroutine reading the SIP socket waits behind
// all of them: under load (2 cores, SIPp on the same machine) an
// execution trace showed it waiting 19 ms at the median and 130 ms at
// p99 before it ran, so new INVITEs, and the 503s refusing them, queued
// in the SIP socket while the cores were not even full. With shared
// readers only a handful of goroutines are runnable for RTP, each yields
// after a full round, and signalling gets a core within one round.

// sweepEvery is how often a shared reader checks its legs' media
// timeouts and drains their RTCP (each leg every checkInterval).
const sweepEvery = 10 * time.Millisecond

// readers is a Ports' shared RTP readers, started on first use.
type readers struct {
	mu   sync.Mutex
	pool []*poller
	next int
}

// poller returns the reader the next leg goes to (n readers in all; 0:
// GOMAXPROCS).
func (r *readers) poller(n int) *poller {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pool == nil {
		if n <= 0 {
			n = runtime.GOMAXPROCS(0)
		}
		n = min(n, maxReaders)
		r.pool = make([]*poller, n)
		for i := range r.pool {
			r.pool[i] = &poller{}
		}
	}
	p := r.pool[r.next%len(r.pool)]
	r.next++
	return p
}

// poller is one shared reader. Its goroutine runs while it has legs
// (it stops, closing its epoll set, at the first sweep without any).
type poller struct {
	mu    sync.Mutex
	ep    *os.File // the epoll set; nil while no goroutine runs
	epfd  int      // ep's descriptor (os.File.Fd would make it blocking)
	slots []pollSlot
	free  []int32 // empty slots (the legs are the others)

	// Only the reader's goroutine touches these.
	events [128]unix.EpollEvent
	lastN  int // sockets the last round's epoll_wait returned
	ready  []*Leg
	due    []*Leg
	w      *relayScratch
	roundF func(fd uintptr) bool // p.round, made once (a method value allocates)
}

// pollSlot is a leg's place in a poller. gen tells a socket's events
// from those of the leg that had the slot before (it travels in the
// epoll event's data).
type pollSlot struct {
	l   *Leg
	gen int32
}

// add has the poller read l's socket; l's wg counts it until remove.
func (p *poller) add(l *Leg) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ep == nil {
		if err := p.start(); err != nil {
			return err
		}
	}
	var i int32
	if n := len(p.free); n > 0 {
		i, p.free = p.free[n-1], p.free[:n-1]
	} else {
		i = int32(len(p.slots))
		p.slots = append(p.slots, pollSlot{})
	}
	gen := p.slots[i].gen
	var cerr error
	err := l.raw.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: i, Pad: gen}
		cerr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err = errors.Join(err, cerr); err != nil {
		p.free = append(p.free, i)
		return fmt.Errorf("media: shared reader: %w", err)
	}
	p.slots[i].l = l
	l.pl, l.slot = p, i
	l.nextCheck = time.Now().Add(l.checkInterval())
	l.wg.Add(1)
	return nil
}

// remove stops reading l's socket (before it is closed). A round that
// took l already may still read it once: readReady's Control keeps the
// socket open until it returns, and reads nothing once it is closed.
func (p *poller) remove(l *Leg) {
	p.mu.Lock()
	s := &p.slots[l.slot]
	if s.l != l {
		p.mu.Unlock()
		return
	}
	_ = l.raw.Control(func(fd uintptr) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
	s.l = nil
	s.gen++
	p.free = append(p.free, l.slot)
	p.mu.Unlock()
	l.wg.Done()
}

// start creates the epoll set and the goroutine reading it; p.mu is held.
func (p *poller) start() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("media: shared reader: epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return fmt.Errorf("media: shared reader: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "rtp-epoll") // non-blocking: Go's poller watches it
	raw, err := ep.SyscallConn()
	if err != nil {
		_ = ep.Close()
		return fmt.Errorf("media: shared reader: %w", err)
	}
	if p.w == nil {
		p.w = newRelayScratch()
		p.roundF = p.round
	}
	p.ep, p.epfd = ep, epfd
	go p.run(ep, raw)
	return nil
}

// run reads the legs' sockets as they become readable, sweeps the legs
// every sweepEvery, and ends at a sweep that finds no legs.
func (p *poller) run(ep *os.File, raw syscall.RawConn) {
	last := time.Now()
	_ = ep.SetReadDeadline(last.Add(sweepEvery))
	for {
		err := raw.Read(p.roundF)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return // closed (not by this goroutine: cannot happen)
		}
		if now := time.Now(); err != nil || now.Sub(last) >= sweepEvery {
			if !p.sweep(now) {
				return
			}
			last = now
			_ = ep.SetReadDeadline(now.Add(sweepEvery))
		}
		if err == nil && p.full() {
			// A full round: let the other goroutines (SIP above all)
			// have the core before the next.
			runtime.Gosched()
		}
	}
}

// full reports whether the last round took as many sockets as one
// epoll_wait returns.
func (p *poller) full() bool { return p.lastN == len(p.events) }

// round is one pass over the ready sockets: false (wait in Go's poller)
// when none was ready.
func (p *poller) round(fd uintptr) bool {
	n, err := unix.EpollWait(int(fd), p.events[:], 0)
	if err == unix.EINTR {
		return true
	}
	if err != nil || n <= 0 {
		p.lastN = 0
		return false
	}
	p.lastN = n
	p.mu.Lock()
	p.ready = p.ready[:0]
	for _, ev := range p.events[:n] {
		if s := p.slots[ev.Fd]; s.l != nil && s.gen == ev.Pad {
			p.ready = append(p.ready, s.l)
		}
	}
	p.mu.Unlock()
	for _, l := range p.ready {
		l.readReady(p.w)
	}
	clear(p.ready)
	return true
}

// sweep drains the RTCP of every leg whose check interval has passed and
// ends those whose media timed out. It reports false (and closes the
// epoll set) when the poller has no legs left: the goroutine ends.
func (p *poller) sweep(now time.Time) bool {
	p.mu.Lock()
	if len(p.free) == len(p.slots) { // no legs
		_ = p.ep.Close()
		p.ep = nil
		p.slots, p.free = nil, nil
		p.mu.Unlock()
		return false
	}
	p.due = p.due[:0]
	for i := range p.slots {
		if l := p.slots[i].l; l != nil && !now.Before(l.nextCheck) {
			l.nextCheck = now.Add(l.checkInterval())
			p.due = append(p.due, l)
		}
	}
	p.mu.Unlock()
	for _, l := range p.due {
		l.checkMedia()
	}
	clear(p.due)
	return true
}
