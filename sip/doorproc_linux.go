//go:build linux

package sip

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"hotline/internal/rxstamp"
	"hotline/metrics"
	"hotline/sip/overload"
)

// The door process (sip.overload.door_process). The door
// (overload_door.go) refuses new calls from a datagram's raw bytes on
// the goroutine that reads the INVITE socket. Inside Hotline that
// goroutine waits its turn behind every other: under a flood of new
// calls, and during a garbage collection, the INVITEs it is to refuse
// wait hundreds of milliseconds in the socket for it, and they wait
// most while Hotline is furthest behind. A small process of its own,
// started from Hotline's executable, reads the socket instead: the
// kernel wakes it as a datagram arrives (bench/README.md: a light
// process's datagrams waited 0.24 ms at p99 while Hotline's new INVITEs
// waited 250 ms on the same machine under the same load).
//
// It refuses a new INVITE (stateless 503, as the door does) while
// Hotline sheds (the decision Hotline publishes at each sample, in
// doorShared); while Hotline has left a datagram the door passed on
// unread for socket_delay and an interval (Hotline is stalled or far
// behind, and cannot say so itself); while the calls Hotline has in
// setup (written at each change) and the new INVITEs passed on that it
// has not read yet reach max_setups; and past max_cps and the learned
// rate, whose tokens it takes. It passes on everything else (new
// INVITEs it admits, retransmissions, re-INVITEs) over the link, where
// Hotline's door judges the calls in setup again (those it read and has
// not admitted yet count there).
// Hotline's metrics count the door process's refusals, from the ring in
// the shared memory; its log lines reach Hotline's log.
//
// It dies with Hotline (Pdeathsig, and the link's end closing). Should
// it exit, Hotline reads the INVITE socket itself again; should it stop
// reading it (its head waiting doorStuck, twice), Hotline kills it.

// doorEnv holds the door process's arguments (doorArgs, JSON); set, the
// executable runs as the door process.
const doorEnv = "HOTLINE_DOOR_PROCESS"

// The door process's descriptors (exec.Cmd.ExtraFiles start at 3).
const (
	doorFDInvites = 3 // the INVITE socket
	doorFDLink    = 4 // its end of the link
	doorFDShared  = 5 // the shared memory (a memfd)
	doorFDOthers  = 6 // the socket of every other datagram, peeked at
)

// doorStuck: a head of the INVITE socket's queue this old, twice half a
// second apart, means the door process stopped reading.
const doorStuck = 2 * time.Second

// doorArgs are the door process's settings.
type doorArgs struct {
	RetryAfter  int           `json:"retry_after"`
	Server      string        `json:"server"`
	SocketDelay time.Duration `json:"socket_delay"`
	Window      time.Duration `json:"window"`
	Hold        time.Duration `json:"hold"`
	LogLevel    slog.Level    `json:"log_level"`
}

// IsDoorProcess reports whether this process was started as Hotline's
// door process (the executable's main is then to call RunDoorProcess).
func IsDoorProcess() bool { return os.Getenv(doorEnv) != "" }

// RunDoorProcess runs the door process until Hotline ends, and returns
// its exit code. Its log lines (JSON, on standard error) are Hotline's
// to log.
func RunDoorProcess() int {
	var a doorArgs
	if err := json.Unmarshal([]byte(os.Getenv(doorEnv)), &a); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", doorEnv, err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: a.LogLevel}))
	runtime.GOMAXPROCS(1) // one goroutine works; the rest wait
	d, err := openDoorProcess(a, log)
	if err != nil {
		log.Error("door process not started", "error", err)
		return 1
	}
	// Hotline's end of the link closing (Hotline gone, however) ends
	// the door: it never writes, so a read returns only then.
	go func() {
		var b [1]byte
		for {
			n, err := unix.Read(doorFDLink, b[:])
			if n == 0 || (err != nil && !errors.Is(err, unix.EINTR)) {
				os.Exit(0)
			}
		}
	}()
	d.run()
	return 0
}

// doorProcess is the door process's state; one goroutine uses it.
type doorProcess struct {
	a   doorArgs
	log *slog.Logger
	udp *net.UDPConn
	// others is the other SIP socket's descriptor, peeked at (behind),
	// never read. It is not in the Go runtime's poller: every datagram
	// arriving there (the admitted calls' responses and in-dialog
	// requests, ten a call or more) would wake the door process for
	// nothing (bench/README.md, "The door process woken by the other
	// socket").
	others int
	link   int // the link's descriptor
	sh     *doorShared
	peek   headLook // at the head of the other socket's queue

	seq   uint64            // datagrams passed on
	fwdAt [doorFwdLen]int64 // their arrivals (or times passed on), by seq, Unix ns
	// judged counts the new INVITEs passed on (doorJudged);
	// judgedBefore, by seq, how many were passed on before that datagram.
	judged       uint64
	judgedBefore [doorFwdLen]uint64
	recent       recentInvites // new INVITEs passed on
	buf          [doorHdr + 65535]byte
	oob          [128]byte
	out          []byte
	rates        doorRates

	// A spell of refusals because Hotline is behind: as the door logs
	// one (shedConn.delayRefused).
	behindN               int
	behindSince, behindAt time.Time
	dropped               int // datagrams the full link dropped in the spell
}

func openDoorProcess(a doorArgs, log *slog.Logger) (*doorProcess, error) {
	sh, _, err := mapDoorShared(doorFDShared, false)
	if err != nil {
		return nil, err
	}
	if sh.magic.Load() != doorMagic {
		return nil, errors.New("the shared memory is not Hotline's door's")
	}
	udp, err := inheritedUDP(doorFDInvites, "the INVITE socket")
	if err != nil {
		return nil, err
	}
	return newDoorProcess(a, log, udp, doorFDOthers, doorFDLink, sh), nil
}

// newDoorProcess returns the door reading udp, peeking at the
// descriptor others, passing on through the link's descriptor and
// sharing sh.
func newDoorProcess(a doorArgs, log *slog.Logger, udp *net.UDPConn, others, link int, sh *doorShared) *doorProcess {
	return &doorProcess{a: a, log: log, udp: udp, others: others, link: link, sh: sh}
}

// inheritedUDP is the UDP socket the door process inherited as fd.
func inheritedUDP(fd uintptr, name string) (*net.UDPConn, error) {
	f := os.NewFile(fd, name)
	pc, err := net.FilePacketConn(f)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	udp, ok := pc.(*net.UDPConn)
	if !ok {
		_ = pc.Close()
		return nil, fmt.Errorf("%s is a %T", name, pc)
	}
	rxstamp.Enable(udp) // set by Hotline already: the socket is one
	return udp, nil
}

// run reads the INVITE socket until it fails.
func (d *doorProcess) run() {
	d.log.Info("door process reading new INVITEs", "pid", os.Getpid(), "addr", d.udp.LocalAddr().String())
	for {
		n, oobn, _, from, err := d.udp.ReadMsgUDPAddrPort(d.buf[doorHdr:], d.oob[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Warn("INVITE socket read failed", "error", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		d.handle(n, from.Addr().Unmap(), from.Port(), rxstamp.Time(d.oob[:oobn]), time.Now())
	}
}

// handle refuses a new INVITE or passes the datagram on.
func (d *doorProcess) handle(n int, ip netip.Addr, port uint16, arrived, now time.Time) {
	from := netip.AddrPortFrom(ip, port)
	b := d.buf[doorHdr : doorHdr+n]
	var r rawRequest
	var key uint64
	initial := false
	if n >= 7 && b[0] == 'I' {
		if r, initial = initialInvite(b); initial {
			key = requestKey(b, &r)
			// A retransmission of an INVITE passed on is Hotline's to
			// answer (its door or its transaction).
			initial = !d.recent.has(key)
		}
	}
	if initial {
		if refuse, why := refuseByShed(d.sh.shed.Load()); refuse {
			d.refuse(b, &r, from, arrived, why, false)
			return
		}
		if w, behind := d.behind(now); behind {
			d.refuseBehind(b, &r, from, arrived, now, w)
			return
		}
		if d.setupsFull() {
			d.refuse(b, &r, from, arrived, overload.ReasonSetups, true)
			return
		}
		if ok, why := d.rates.take(d.sh, now); !ok {
			d.refuse(b, &r, from, arrived, why, false)
			return
		}
	}
	var flags byte
	if initial {
		flags = doorJudged
	}
	err := d.pass(n, from, arrived, now, flags)
	switch {
	case err == nil:
		if initial {
			d.recent.add(key, now)
			d.behindOver(now)
		}
	case initial && errors.Is(err, unix.EAGAIN):
		// The link is full: Hotline is that far behind.
		d.refuseBehind(b, &r, from, arrived, now, 0)
	default:
		// A retransmission or in-dialog INVITE its sender repeats.
		if d.dropped == 0 {
			d.log.Warn("datagram not passed on to Hotline", "error", err)
		}
		d.dropped++
	}
}

// behind reports whether Hotline has left a datagram unread for
// socket_delay and an interval (off when socket_delay is), and how long
// it has waited: the oldest the door passed on, or the head of the
// other socket's queue (the admitted calls' answers and in-dialog
// requests). Either way Hotline is stalled or that far behind, and an
// INVITE passed on now would wait as long.
func (d *doorProcess) behind(now time.Time) (time.Duration, bool) {
	if d.a.SocketDelay <= 0 {
		return 0, false
	}
	limit := d.a.SocketDelay + d.a.Window
	if w, ok := d.peek.lookFD(d.others, now); ok && w > limit {
		return w, true
	}
	read := d.sh.readSeq.Load()
	if read >= d.seq {
		return 0, false
	}
	if d.seq-read >= doorFwdLen {
		return time.Duration(now.UnixNano() - d.fwdAt[d.seq%doorFwdLen]), true
	}
	w := time.Duration(now.UnixNano() - d.fwdAt[read%doorFwdLen])
	return w, w > limit
}

// lookFD is look at a socket's descriptor.
func (h *headLook) lookFD(fd int, now time.Time) (time.Duration, bool) {
	if h.due(now) {
		h.wait, h.ok = headWaitFD(fd, now, h.oob[:])
	}
	return h.wait, h.ok
}

// setupsFull reports whether a new INVITE passed on now would find
// max_setups calls being set up: the calls Hotline counts in setup
// (those it read and has not handled yet among them: it admits them as
// it reads them), and the new INVITEs passed on that it has not read
// yet, each of which is one more once read.
func (d *doorProcess) setupsFull() bool {
	limit := d.sh.maxSetups.Load()
	if limit <= 0 {
		return false
	}
	return d.sh.setups.Load()+int64(d.unreadJudged()) >= limit
}

// unreadJudged counts the new INVITEs passed on that Hotline has not
// read yet.
func (d *doorProcess) unreadJudged() uint64 {
	read := d.sh.readSeq.Load()
	switch {
	case read >= d.seq:
		return 0
	case d.seq-read >= doorFwdLen:
		// Hotline is further behind than the door keeps: from the
		// oldest it keeps.
		return d.judged - d.judgedBefore[d.seq%doorFwdLen]
	}
	return d.judged - d.judgedBefore[read%doorFwdLen]
}

// pass passes a datagram (in d.buf after the header) on to Hotline,
// without waiting.
func (d *doorProcess) pass(n int, from netip.AddrPort, arrived, now time.Time, flags byte) error {
	h := doorHeader{seq: d.seq, arrived: arrived, from: from, flags: flags}
	h.put(d.buf[:doorHdr])
	for {
		err := unix.Send(d.link, d.buf[:doorHdr+n], unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	at := now
	if !arrived.IsZero() {
		at = arrived
	}
	d.fwdAt[d.seq%doorFwdLen] = at.UnixNano()
	d.judgedBefore[d.seq%doorFwdLen] = d.judged
	if flags&doorJudged != 0 {
		d.judged++
	}
	d.seq++
	return nil
}

// refuse answers a new INVITE 503 and reports it; queue: refused for a
// queue (Hotline behind, max_setups), not by shedding nor a rate.
func (d *doorProcess) refuse(b []byte, r *rawRequest, from netip.AddrPort, arrived time.Time, why overload.Reason, queue bool) {
	var dst netip.AddrPort
	d.out, dst = build503(d.out[:0], b, r, from, d.a.RetryAfter, d.a.Server)
	var wait time.Duration
	if !arrived.IsZero() {
		wait = time.Since(arrived)
	}
	_, err := d.udp.WriteToUDPAddrPort(d.out, dst)
	if err != nil {
		d.log.Debug("503 not sent", "call_id", string(r.callID.of(b)), "error", err)
	}
	d.sh.report(reasonIndex(why), wait, err == nil, queue)

	if d.log.Enabled(context.Background(), slog.LevelDebug) {
		d.log.Debug("call refused at the door: overloaded", "call_id", string(r.callID.of(b)), "reason", why)
	}
}

// refuseBehind refuses a new INVITE because Hotline is behind (w: how
// long the oldest datagram it left unread has waited; 0: the link is
// full), logging a spell's start.
func (d *doorProcess) refuseBehind(b []byte, r *rawRequest, from netip.AddrPort, arrived, now time.Time, w time.Duration) {
	if d.behindN == 0 {
		d.behindSince = now
		if w > 0 {
			d.log.Warn("overloaded: new calls are refused", "reason", overload.ReasonSocketDelay,
				"hotline_behind", w.Round(time.Millisecond).String(), "socket_delay", d.a.SocketDelay.String())
		} else {
			d.log.Warn("overloaded: new calls are refused", "reason", overload.ReasonSocketDelay, "hotline_behind", "link full")
		}
	}
	d.behindN++
	d.behindAt = now
	d.refuse(b, r, from, arrived, overload.ReasonSocketDelay, true)
}

// behindOver logs the end of a spell at the first new call passed on
// once none was refused for hold.
func (d *doorProcess) behindOver(now time.Time) {
	if d.behindN == 0 || now.Sub(d.behindAt) < d.a.Hold {
		return
	}
	d.log.Info("overload over: new calls are admitted again", "reason", overload.ReasonSocketDelay,
		"refused", d.behindN, "for", d.behindAt.Sub(d.behindSince).Round(time.Millisecond).String(), "not_passed_on", d.dropped)
	d.behindN, d.dropped = 0, 0
}

// mapDoorShared maps the shared memory in fd (sized first when create).
func mapDoorShared(fd int, create bool) (*doorShared, []byte, error) {
	size := int(unsafe.Sizeof(doorShared{}))
	if create {
		if err := unix.Ftruncate(fd, int64(size)); err != nil {
			return nil, nil, fmt.Errorf("ftruncate: %w", err)
		}
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap: %w", err)
	}
	return (*doorShared)(unsafe.Pointer(&mem[0])), mem, nil
}

// doorLink is Hotline's side of a running door process.
type doorLink struct {
	cmd     *exec.Cmd
	conn    *net.UnixConn // Hotline's end of the link
	sh      *doorShared   // mapped for Hotline's life: the reader and the monitor may touch it as the link closes
	buf     []byte
	hdr     doorHeader
	log     *slog.Logger
	closing atomic.Bool
	exited  chan struct{} // closed once the process was waited for
	stop    chan struct{} // closed by close
	bg      sync.WaitGroup
	once    sync.Once
}

// startDoorProcess starts the door process on c, the INVITE socket's
// door: from then on c reads what the process passes on.
func (s *Server) startDoorProcess(c *shedConn) (*doorLink, error) {
	if c.udp == nil {
		return nil, errors.New("the INVITE socket has no arrival stamps")
	}
	if IsDoorProcess() {
		// This executable's main never called RunDoorProcess (a test
		// binary without the hook): no door of a door.
		return nil, fmt.Errorf("%s is set: this process was started as a door process", doorEnv)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	level := slog.LevelError
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if s.log.Enabled(context.Background(), l) {
			level = l
			break
		}
	}
	oc := s.cfg.Overload
	args, err := json.Marshal(doorArgs{RetryAfter: int(oc.RetryAfter / time.Second), Server: s.cfg.UserAgent,
		SocketDelay: oc.SocketDelay, Window: oc.Interval, Hold: oc.Hold, LogLevel: level})
	if err != nil {
		return nil, err
	}
	if c.others == nil || c.others.udp == nil {
		return nil, errors.New("no other SIP socket beside the INVITE socket")
	}
	// What a failure undoes, last first; the descriptors the process
	// inherits are closed here in any case.
	var undo []func()
	fail := func(err error) (*doorLink, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return nil, err
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	// Room for a stall's worth of new INVITEs passed on (the kernel
	// caps these at net.core.wmem_max and rmem_max).
	_ = unix.SetsockoptInt(pair[1], unix.SOL_SOCKET, unix.SO_SNDBUF, sipUDPReadBuffer)
	_ = unix.SetsockoptInt(pair[0], unix.SOL_SOCKET, unix.SO_RCVBUF, sipUDPReadBuffer)
	ours, theirs := os.NewFile(uintptr(pair[0]), "door-link"), os.NewFile(uintptr(pair[1]), "door-link")
	defer func() { _ = theirs.Close() }()
	undo = append(undo, func() { _ = ours.Close() })
	mfd, err := unix.MemfdCreate("hotline-door", unix.MFD_CLOEXEC)
	if err != nil {
		return fail(fmt.Errorf("memfd: %w", err))
	}
	shared := os.NewFile(uintptr(mfd), "door-shared")
	defer func() { _ = shared.Close() }()
	sh, mem, err := mapDoorShared(mfd, true)
	if err != nil {
		return fail(err)
	}
	undo = append(undo, func() { _ = unix.Munmap(mem) })
	sh.magic.Store(doorMagic)
	if s.overload != nil {
		sh.publish(s.overload, s.overload.State())
	}
	invites, err := c.udp.File() // duplicates, for the process
	if err != nil {
		return fail(err)
	}
	defer func() { _ = invites.Close() }()
	others, err := c.others.udp.File()
	if err != nil {
		return fail(err)
	}
	defer func() { _ = others.Close() }()
	logR, logW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	undo = append(undo, func() { _ = logR.Close() })
	cmd := exec.Command(exe)
	cmd.Args = []string{"hotline: door"} // what ps shows
	cmd.Env = doorEnviron(os.Environ(), string(args))
	cmd.ExtraFiles = []*os.File{invites, theirs, shared, others} // doorFDInvites, doorFDLink, doorFDShared, doorFDOthers
	cmd.Stderr = logW
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	_ = logW.Close()
	// Start put the descriptors it passed in blocking mode (os.File.Fd),
	// and each socket's is one file with Hotline's: non-blocking again,
	// for Hotline's writes and its own reads should the process exit.
	for _, u := range []*net.UDPConn{c.udp, c.others.udp} {
		if rc, rerr := u.SyscallConn(); rerr == nil {
			_ = rc.Control(func(fd uintptr) { _ = unix.SetNonblock(int(fd), true) })
		}
	}
	if err != nil {
		return fail(err)
	}
	fc, err := net.FileConn(ours)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fail(err)
	}
	_ = ours.Close() // FileConn holds a duplicate
	l := &doorLink{cmd: cmd, conn: fc.(*net.UnixConn), sh: sh, buf: make([]byte, doorHdr+65535),
		log: s.log.With("component", "door"), exited: make(chan struct{}), stop: make(chan struct{})}
	l.bg.Add(3)
	go func() { // the process's log lines, into Hotline's log
		defer l.bg.Done()
		l.relayLog(logR)
	}()
	go func() {
		defer l.bg.Done()
		err := cmd.Wait()
		if !l.closing.Load() {
			l.log.Error("door process exited: Hotline reads the INVITE socket itself", "pid", cmd.Process.Pid, "error", err)
			_ = l.conn.Close() // wakes Hotline's reader, which then reads the socket
		}
		close(l.exited)
	}()
	go func() { // its refusals into the metrics; a stuck process killed
		defer l.bg.Done()
		l.watch(s.deps.Metrics, s.overload, c.udp)
	}()
	return l, nil
}

// doorEnviron is the door process's environment: Hotline's (environ),
// without GODEBUG's gctrace, and its arguments (doorEnv). Whoever traces
// Hotline's collector does not trace the door's: its runtime would write
// a line at each of its collections on its standard error, which
// Hotline relays into its log as errors. GODEBUG's other settings are
// kept (a GODEBUG left empty is dropped).
func doorEnviron(environ []string, args string) []string {
	env := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			var keep []string
			for _, s := range strings.Split(v, ",") {
				if k, _, _ := strings.Cut(s, "="); strings.TrimSpace(k) != "gctrace" && s != "" {
					keep = append(keep, s)
				}
			}
			if len(keep) == 0 {
				continue
			}
			kv = "GODEBUG=" + strings.Join(keep, ",")
		}
		env = append(env, kv)
	}
	return append(env, doorEnv+"="+args)
}

// read reads the next datagram the door process passed on into p.
func (l *doorLink) read(p []byte) (int, *doorHeader, error) {
	for {
		m, err := l.conn.Read(l.buf)
		if err != nil {
			return 0, nil, err
		}
		if m < doorHdr {
			continue
		}
		l.hdr.get(l.buf)
		return copy(p, l.buf[doorHdr:m]), &l.hdr, nil
	}
}

// markRead tells the door process that Hotline has read (and its door
// judged) the datagram read last.
func (l *doorLink) markRead() { l.sh.readSeq.Store(l.hdr.seq + 1) }

// publish hands Hotline's decisions to the door process: a sample's,
// and d's rates in force.
func (l *doorLink) publish(d *overload.Detector, st overload.State) { l.sh.publish(d, st) }

// publishRates hands d's rates in force to the door process (max_cps
// reloaded).
func (l *doorLink) publishRates(d *overload.Detector) { l.sh.publishRates(d) }

// publishSetups hands the calls in setup (n) to the door process.
func (l *doorLink) publishSetups(n int64) { l.sh.setups.Store(n) }

// watch takes the door process's refusals into the metrics every 20 ms,
// and kills it when the INVITE socket's head has waited doorStuck at
// two looks half a second apart, until the link closes.
func (l *doorLink) watch(m *metrics.Metrics, d *overload.Detector, udp *net.UDPConn) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var oob [128]byte
	var lastLook time.Time
	stuck := 0
	take := func() {
		if n := l.sh.learnRefused.Swap(0); n > 0 {
			d.NoteLearnRefused(n)
		}
		l.sh.take(func(why overload.Reason, wait time.Duration, sent, queue bool) {
			m.SIPRequest(metrics.In, "INVITE")
			m.CallRefused(string(why))
			if queue {
				d.NoteQueueRefused(why)
			}
			if wait > 0 {
				m.RefusedAfter(wait)
			}
			if sent {
				m.SIPResponse(metrics.Out, "INVITE", 503)
			}
		})
	}
	for {
		select {
		case <-l.stop:
			take()
			return
		case <-l.exited:
			take()
			return
		case now := <-t.C:
			take()
			if now.Sub(lastLook) < 500*time.Millisecond {
				continue
			}
			lastLook = now
			if w, ok := headWait(udp, now, oob[:]); ok && w > doorStuck {
				stuck++
			} else {
				stuck = 0
			}
			if stuck == 2 {
				l.log.Error("door process stopped reading the INVITE socket: killed", "pid", l.cmd.Process.Pid, "head_waited", doorStuck)
				_ = l.cmd.Process.Kill()
			}
		}
	}
}

// relayLog logs the door process's JSON lines through Hotline's logger
// (any other line, such as a panic's, as an error).
func (l *doorLink) relayLog(r *os.File) {
	defer func() { _ = r.Close() }()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			l.log.Error("door process: " + sc.Text())
			continue
		}
		var level slog.Level
		if s, ok := rec["level"].(string); ok {
			_ = level.UnmarshalText([]byte(s))
		}
		msg, _ := rec["msg"].(string)
		attrs := make([]any, 0, 2*len(rec))
		for k, v := range rec {
			if k != "level" && k != "msg" && k != "time" {
				attrs = append(attrs, k, v)
			}
		}
		l.log.Log(context.Background(), level, msg, attrs...)
	}
}

// abandon kills the door process, if it still runs, and waits for it:
// Hotline reads the INVITE socket itself from now on. The process's
// exit is logged as an error (it was not closed).
func (l *doorLink) abandon() {
	_ = l.cmd.Process.Kill()
	<-l.exited
}

// close stops the door process and waits for it.
func (l *doorLink) close() {
	l.once.Do(func() {
		l.closing.Store(true)
		close(l.stop)
		_ = l.conn.Close()
		_ = l.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-l.exited:
		case <-time.After(2 * time.Second):
			_ = l.cmd.Process.Kill()
			<-l.exited
		}
		l.bg.Wait()
	})
}
