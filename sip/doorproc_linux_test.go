//go:build linux

package sip

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"hotline/internal/rxstamp"
	"hotline/sip/overload"
	"hotline/sip/sdp"
)

// doorBench is a door process's loop run in the test, with what Hotline
// would hold: its end of the link, the shared memory, the other socket.
type doorBench struct {
	t      *testing.T
	d      *doorProcess
	addr   netip.AddrPort // the INVITE socket's
	others *net.UDPConn   // the other socket (the door peeks at it)
	link   int            // Hotline's end of the link
	sh     *doorShared
	done   chan struct{}
	next   uint64 // the seq after the last datagram passed on
}

func newDoorBench(t *testing.T, a doorArgs) *doorBench {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		if !rxstamp.Enable(c) {
			t.Fatal("no arrival stamps on this kernel")
		}
		return c
	}
	udp, others := listen(), listen()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	mfd, err := unix.MemfdCreate("door-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	sh, mem, err := mapDoorShared(mfd, true)
	_ = unix.Close(mfd)
	if err != nil {
		t.Fatal(err)
	}
	sh.magic.Store(doorMagic)
	raw, err := others.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	othersFD := -1
	if err := raw.Control(func(fd uintptr) { othersFD = int(fd) }); err != nil {
		t.Fatal(err)
	}
	b := &doorBench{t: t, d: newDoorProcess(a, testLogger(t), udp, othersFD, pair[1], sh),
		addr: udp.LocalAddr().(*net.UDPAddr).AddrPort(), others: others, link: pair[0], sh: sh, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.d.run()
	}()
	t.Cleanup(func() {
		_ = udp.Close()
		<-b.done
		_ = others.Close()
		_ = unix.Close(pair[0])
		_ = unix.Close(pair[1])
		_ = unix.Munmap(mem)
	})
	return b
}

// passed returns the next datagram the door passed on, and its header.
func (b *doorBench) passed() (doorHeader, []byte) {
	b.t.Helper()
	buf := make([]byte, doorHdr+65535)
	deadline := time.Now().Add(waitTimeout)
	for {
		n, _, err := unix.Recvfrom(b.link, buf, unix.MSG_DONTWAIT)
		if err == nil && n >= doorHdr {
			var h doorHeader
			h.get(buf)
			b.next = h.seq + 1
			return h, buf[doorHdr:n]
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("nothing passed on to Hotline: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

// nothingPassed checks the link holds nothing.
func (b *doorBench) nothingPassed() {
	b.t.Helper()
	buf := make([]byte, doorHdr+65535)
	if n, _, err := unix.Recvfrom(b.link, buf, unix.MSG_DONTWAIT); err == nil {
		b.t.Fatalf("passed on to Hotline: %q", buf[doorHdr:n])
	}
}

// read tells the door Hotline read everything passed on so far.
func (b *doorBench) read() { b.sh.readSeq.Store(b.next) }

// refusals returns the refusals reported since the last call, waiting
// (up to waitTimeout) for at least one.
func (b *doorBench) refusals() []string {
	var got []string
	// The door process reports a refusal once its 503 is sent: wait for
	// the report of the 503 the test has seen.
	for end := time.Now().Add(waitTimeout); len(got) == 0 && time.Now().Before(end); time.Sleep(time.Millisecond) {
		b.sh.take(func(why overload.Reason, wait time.Duration, sent, queue bool) {
			s := string(why)
			if queue {
				s += " (queue)"
			}
			if !sent {
				s += " (not sent)"
			}
			if wait <= 0 || wait > waitTimeout {
				s += " (wait " + wait.String() + ")"
			}
			got = append(got, s)
		})
	}
	return got
}

// TestDoorProcess: the door process passes new INVITEs on to Hotline,
// and answers one 503 itself while Hotline sheds, while Hotline has left
// what it passed on unread (or the other socket's queue) for
// socket_delay and an interval, and past the rates Hotline publishes. A
// retransmission of an INVITE passed on is always passed on: Hotline's
// transaction answers it. Each refusal reaches Hotline's metrics through
// the shared ring.
func TestDoorProcess(t *testing.T) {
	b := newDoorBench(t, doorArgs{RetryAfter: 5, Server: "hotline-test", SocketDelay: 20 * time.Millisecond,
		Window: 10 * time.Millisecond, Hold: time.Hour, LogLevel: -8})
	u := newRawUA(t)

	// Hotline keeping up: passed on, judged, from the caller's address.
	inv1 := u.invite("dp-1", "dp1")
	u.send(inv1, b.addr)
	h, got := b.passed()
	if !bytes.Equal(got, inv1) || h.seq != 0 || h.flags != doorJudged || h.from.Port() != uint16(u.port) || h.arrived.IsZero() {
		t.Fatalf("first INVITE passed on as seq %d flags %d from %s arrived %v:\n%s", h.seq, h.flags, h.from, h.arrived, got)
	}
	b.read()

	// Hotline stalled: inv2 is passed on and left unread; once it has
	// waited socket_delay and an interval, a new INVITE gets the 503.
	inv2 := u.invite("dp-2", "dp2")
	u.send(inv2, b.addr)
	b.passed()
	time.Sleep(40 * time.Millisecond)
	t0 := time.Now()
	u.send(u.invite("dp-3", "dp3"), b.addr)
	res := u.next()
	tag, _ := res.To().Params.Get("tag")
	if res.StatusCode != 503 || header(res, "Retry-After") != "5" || !strings.HasPrefix(tag, doorTagPrefix) || header(res, "Server") != "hotline-test" {
		t.Fatalf("new INVITE while Hotline is behind: %d, Retry-After %q, To tag %q, Server %q; want the door's 503",
			res.StatusCode, header(res, "Retry-After"), tag, header(res, "Server"))
	}
	t.Logf("503 after %s", time.Since(t0))
	b.nothingPassed()
	if got := b.refusals(); len(got) != 1 || got[0] != string(overload.ReasonSocketDelay)+" (queue)" {
		t.Errorf("refusals reported %q, want one socket_delay, sent, with its wait", got)
	}
	// A retransmission of inv2 is Hotline's, behind or not.
	u.send(inv2, b.addr)
	if h, got := b.passed(); !bytes.Equal(got, inv2) || h.flags != 0 || h.seq != 2 {
		t.Errorf("retransmission passed on as seq %d flags %d, want seq 2, not judged (its transaction's)", h.seq, h.flags)
	}
	b.read() // Hotline caught up
	u.send(u.invite("dp-4", "dp4"), b.addr)
	if h, _ := b.passed(); h.flags != doorJudged {
		t.Errorf("new INVITE once Hotline caught up: passed on with flags %d, want judged", h.flags)
	}
	b.read()

	// The other socket's head waiting as long refuses too.
	if _, err := u.c.WriteToUDPAddrPort([]byte("SIP/2.0 200 OK\r\n\r\n"), b.others.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(40 * time.Millisecond)
	u.send(u.invite("dp-5", "dp5"), b.addr)
	if res := u.next(); res.StatusCode != 503 {
		t.Errorf("new INVITE while the other socket's queue waits: %d, want 503", res.StatusCode)
	}
	if got := b.refusals(); len(got) != 1 || got[0] != string(overload.ReasonSocketDelay)+" (queue)" {
		t.Errorf("refusals reported %q, want one socket_delay", got)
	}
	buf := make([]byte, 100)
	if _, _, err := b.others.ReadFrom(buf); err != nil { // Hotline read it
		t.Fatal(err)
	}
	time.Sleep(2 * peekEvery)

	// Hotline shedding (pressure): refused with its reason.
	b.sh.shed.Store(packShed(true, overload.ReasonPressure, 1))
	u.send(u.invite("dp-6", "dp6"), b.addr)
	if res := u.next(); res.StatusCode != 503 {
		t.Errorf("new INVITE while Hotline sheds: %d, want 503", res.StatusCode)
	}
	b.nothingPassed()
	if got := b.refusals(); len(got) != 1 || got[0] != string(overload.ReasonPressure) {
		t.Errorf("refusals reported %q, want one pressure", got)
	}
	b.sh.shed.Store(packShed(false, "", 0))

	// A learned rate, then max_cps, of 1 call a second (a burst of 1):
	// one passed on, the next refused with the rate's reason (the
	// learned rate's also counted for the detector).
	for i, rate := range []struct {
		name    string
		word    *atomic.Uint64
		why     overload.Reason
		learned int64
	}{
		{"the learned rate", &b.sh.learned, overload.ReasonRTPDelay, 1},
		{"max_cps", &b.sh.maxCPS, overload.ReasonMaxCPS, 0},
	} {
		b.sh.learnWhy.Store(reasonIndex(overload.ReasonRTPDelay))
		rate.word.Store(math.Float64bits(1))
		u.send(u.invite(fmt.Sprintf("dp-rate-%d", i), fmt.Sprintf("dpr%d", i)), b.addr)
		b.passed()
		b.read()
		u.send(u.invite(fmt.Sprintf("dp-rate-%d-2", i), fmt.Sprintf("dpr%d2", i)), b.addr)
		if res := u.next(); res.StatusCode != 503 {
			t.Errorf("new INVITE past %s: %d, want 503", rate.name, res.StatusCode)
		}
		if got, n := b.refusals(), b.sh.learnRefused.Swap(0); len(got) != 1 || got[0] != string(rate.why) || n != rate.learned {
			t.Errorf("past %s: refusals reported %q, %d counted against the learned rate; want one %s, %d", rate.name, got, n, rate.why, rate.learned)
		}
		rate.word.Store(0)
	}

	// Anything else is Hotline's: an ACK, unparsed bytes.
	ack := u.inDialog("ACK", 1, res, "dpack")
	u.send(ack, b.addr)
	if _, got := b.passed(); !bytes.Equal(got, ack) {
		t.Errorf("ACK not passed on as it came:\n%s", got)
	}
}

// TestDoorProcessSetups: the door process refuses a new INVITE (503,
// reason setups) once the calls Hotline has in setup and the new INVITEs
// passed on that Hotline has not read yet reach max_setups, and passes
// it on again once Hotline reads them or its calls leave setup.
func TestDoorProcessSetups(t *testing.T) {
	// socket_delay off: new INVITEs left unread are not "behind" here.
	b := newDoorBench(t, doorArgs{RetryAfter: 5, Server: "hotline-test", Window: 10 * time.Millisecond, Hold: time.Hour, LogLevel: -8})
	u := newRawUA(t)
	b.sh.maxSetups.Store(3)
	b.sh.setups.Store(1)
	n := 0
	send := func() {
		n++
		u.send(u.invite(fmt.Sprintf("ds-%d", n), fmt.Sprintf("ds%d", n)), b.addr)
	}
	refused := func(what string) {
		t.Helper()
		if res := u.next(); res.StatusCode != 503 || header(res, "Retry-After") != "5" {
			t.Fatalf("%s: %d, want the door's 503", what, res.StatusCode)
		}
		b.nothingPassed()
		if got := b.refusals(); len(got) != 1 || got[0] != string(overload.ReasonSetups)+" (queue)" {
			t.Errorf("%s: refusals reported %q, want one setups", what, got)
		}
	}
	// One call in setup and two new INVITEs Hotline has not read: the
	// third is one too many.
	for range 2 {
		send()
		if h, _ := b.passed(); h.flags != doorJudged {
			t.Fatalf("new INVITE under max_setups passed on with flags %d, want judged", h.flags)
		}
	}
	// A retransmission passed on is not a call more.
	b.sh.setups.Store(0)
	u.send(u.invite("ds-1", "ds1"), b.addr)
	if h, _ := b.passed(); h.flags != 0 {
		t.Fatalf("retransmission passed on with flags %d, want not judged", h.flags)
	}
	b.sh.setups.Store(1)
	send()
	refused("1 call in setup and 2 new INVITEs unread, max_setups 3")
	b.read() // Hotline read them (and its detector counts them once admitted)
	send()
	if h, _ := b.passed(); h.flags != doorJudged {
		t.Fatalf("new INVITE once Hotline read the others: flags %d, want judged", h.flags)
	}
	b.read()
	b.sh.setups.Store(3)
	send()
	refused("3 calls in setup, max_setups 3")
	b.sh.maxSetups.Store(0) // no bound
	send()
	b.passed()
}

// TestDoorShared: the shed word keeps its reason and share, the ring
// keeps order, and a full ring counts what it cannot hold.
func TestDoorShared(t *testing.T) {
	for _, why := range overload.Reasons() {
		if on, got := refuseByShed(packShed(true, why, 1)); !on || got != why {
			t.Errorf("packShed(%s, share 1): refuses %v with %q", why, on, got)
		}
	}
	if on, _ := refuseByShed(packShed(false, overload.ReasonCPU, 1)); on {
		t.Error("not shedding refuses")
	}
	n := 0
	for range 10000 {
		if on, _ := refuseByShed(packShed(true, overload.ReasonCPU, 0.25)); on {
			n++
		}
	}
	if n < 2000 || n > 3000 {
		t.Errorf("share 0.25 refused %d of 10000", n)
	}
	sh := new(doorShared)
	for i := range doorRingLen + 3 {
		sh.report(reasonIndex(overload.ReasonPressure), time.Duration(i+1), i%2 == 0, i == 1 || i == doorRingLen+1)
	}
	var waits []time.Duration
	sent := 0
	queued := 0
	sh.take(func(why overload.Reason, wait time.Duration, s, queue bool) {
		if why != overload.ReasonPressure {
			t.Fatalf("reason %q", why)
		}
		if queue {
			queued++
		}
		waits = append(waits, wait)
		if s {
			sent++
		}
	})
	if len(waits) != doorRingLen+3 || waits[0] != 1 || waits[doorRingLen-1] != doorRingLen || waits[doorRingLen] != 0 {
		t.Errorf("took %d refusals (first wait %v, last ring's %v, first overflow's %v), want %d: the ring's in order, then 3 counted",
			len(waits), waits[0], waits[doorRingLen-1], waits[doorRingLen], doorRingLen+3)
	}
	if sent != doorRingLen/2+3 {
		t.Errorf("%d sent, want %d", sent, doorRingLen/2+3)
	}
	if queued != 2 {
		t.Errorf("%d refused for a queue, want 2 (one in the ring, one counted)", queued)
	}
	var h doorHeader
	in := doorHeader{seq: 7, arrived: time.Unix(0, 123456789), from: netip.MustParseAddrPort("127.0.0.1:5060"), flags: doorJudged}
	b := make([]byte, doorHdr)
	in.put(b)
	h.get(b)
	if h != in {
		t.Errorf("header %+v read back as %+v", in, h)
	}
}

// TestDoorProcessEnv: the door process inherits Hotline's environment
// without GODEBUG's gctrace (its runtime would write a line into
// Hotline's log, as an error, at each of its collections), with every
// other GODEBUG setting and every other variable as they were, and its
// arguments last.
func TestDoorProcessEnv(t *testing.T) {
	const args = `{"retry_after":5}`
	for _, tc := range []struct {
		name      string
		env, want []string
	}{
		{"no GODEBUG", []string{"PATH=/bin", "HOME=/h"}, []string{"PATH=/bin", "HOME=/h"}},
		{"gctrace alone", []string{"PATH=/bin", "GODEBUG=gctrace=1", "HOME=/h"}, []string{"PATH=/bin", "HOME=/h"}},
		{"gctrace=2 alone", []string{"GODEBUG=gctrace=2"}, nil},
		{"gctrace among others", []string{"GODEBUG=madvdontneed=1,gctrace=1,gcpacertrace=1,asyncpreemptoff=1"},
			[]string{"GODEBUG=madvdontneed=1,gcpacertrace=1,asyncpreemptoff=1"}},
		{"gctrace last", []string{"GODEBUG=http2debug=1,gctrace=1"}, []string{"GODEBUG=http2debug=1"}},
		{"no gctrace", []string{"GODEBUG=inittrace=1,x509sha1=1"}, []string{"GODEBUG=inittrace=1,x509sha1=1"}},
		{"empty GODEBUG", []string{"GODEBUG="}, nil},
		{"another variable's gctrace", []string{"NOTGODEBUG=gctrace=1", "MY_GODEBUG=gctrace=1"},
			[]string{"NOTGODEBUG=gctrace=1", "MY_GODEBUG=gctrace=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]string(nil), tc.env...)
			got := doorEnviron(in, args)
			want := append(append([]string(nil), tc.want...), doorEnv+"="+args)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("doorEnviron(%q) = %q, want %q", tc.env, got, want)
			}
			for _, kv := range got {
				if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok && strings.Contains(v, "gctrace") {
					t.Errorf("the door process's GODEBUG %q traces its collector", v)
				}
			}
			if strings.Join(in, "\n") != strings.Join(tc.env, "\n") {
				t.Errorf("Hotline's environment changed: %q, was %q", in, tc.env)
			}
		})
	}
}

// TestDoorProcessPerListener: each UDP listener gets a door process, and
// Hotline's shedding decision reaches every one of them.
func TestDoorProcessPerListener(t *testing.T) {
	pressure := filepath.Join(t.TempDir(), "pressure")
	on := true
	f := newFixture(t, func(o *fixtureOpts) {
		ov := &o.cfg.Overload
		ov.PressureFile, ov.Interval, ov.Confirm, ov.Hold = pressure, 10*time.Millisecond, 1, 0
		ov.DoorProcess = &on
		o.cfg.Listen = append(o.cfg.Listen, Listener{Transport: "udp", Addr: "127.0.0.1:0"})
	})
	links := f.srv.doorLinks()
	if len(links) != 2 {
		t.Fatalf("%d door processes for 2 UDP listeners, want 2", len(links))
	}
	setPressure(t, pressure, "1")
	waitShedding(t, f.srv, true)
	for i, l := range links {
		if !pollUntil(func() bool { on, _ := refuseByShed(l.sh.shed.Load()); return on }) {
			t.Errorf("door process %d was not told Hotline sheds", i+1)
		}
	}
}

// TestDoorProcessHoldsCallsInSetup: with the door process, a call is
// counted in setup from Hotline's read of its INVITE, and its handler
// takes that place by the call's Call-ID rather than counting it again:
// with max_setups 1, a call is answered (a second count would refuse it
// 503), and once it is answered nothing is held or in setup.
func TestDoorProcessHoldsCallsInSetup(t *testing.T) {
	on := true
	f := newFixture(t, func(o *fixtureOpts) {
		o.cfg.Overload.DoorProcess = &on
		o.cfg.Overload.MaxSetups = 1
	})
	if n := len(f.srv.doorLinks()); n != 1 {
		t.Fatalf("%d door processes, want 1", n)
	}
	for i := range 2 {
		p := newPhone(t, fmt.Sprintf("555444%d", i), f.addr)
		call := p.call("1900", p.sdp(sdp.SendRecv))
		call.answered()
		if n := f.srv.holds.len(); n != 0 {
			t.Errorf("call %d answered: %d holds left, want the handler to have taken its own", i+1, n)
		}
		if !pollUntil(func() bool { return f.srv.overload.Setups() == 0 }) {
			t.Errorf("call %d answered: %d calls still in setup, want 0", i+1, f.srv.overload.Setups())
		}
		call.bye()
	}
	f.checkIdle()
}

// shedPublished reports whether the shedding decision the door process
// reads (the shared shed word) is on: Hotline's monitor publishes it
// after its detector's state changed.
func (l *doorLink) shedPublished() bool { return l.sh.shed.Load() != 0 }
