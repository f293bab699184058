package sip

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"hotline/metrics"
)

// TestDoorHoldsJudgedInvites: a new INVITE the door process passed on
// is admitted as Hotline's door reads it, so that the calls in setup
// (what the door process refuses on) count it before its handler runs;
// the handler takes that place by Call-ID, once. One over max_setups is
// refused at the read; a hold nobody takes is released after
// holdExpiry; a second new INVITE with the same Call-ID releases the
// first's.
func TestDoorHoldsJudgedInvites(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) { o.cfg.Overload.MaxSetups = 2 })
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	c := f.srv.newShedConn(pc, metrics.SocketInvites)
	holds := &setupHolds{}
	c.holds = holds
	u := newRawUA(t)
	from := net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(u.port)))
	d := f.srv.overload
	judge := func(callID, branch string) bool {
		c.judged = true
		return c.door(u.invite(callID, branch), from)
	}
	check := func(what string, setups int64, held int) {
		t.Helper()
		if got := d.Setups(); got != setups {
			t.Errorf("%s: %d calls in setup, want %d", what, got, setups)
		}
		if got := holds.len(); got != held {
			t.Errorf("%s: %d holds, want %d", what, got, held)
		}
	}

	if judge("hold-1", "h1") || judge("hold-2", "h2") {
		t.Fatal("new INVITE under max_setups 2 refused at the read, want passed on to sipgo")
	}
	check("2 read, not handled", 2, 2)
	if !judge("hold-3", "h3") {
		t.Fatal("third new INVITE with 2 read and not handled (max_setups 2): passed on, want refused")
	}
	if res := u.next(); res.StatusCode != 503 || res.CallID().Value() != "hold-3" {
		t.Fatalf("third new INVITE: %d for %s, want the door's 503 for hold-3", res.StatusCode, res.CallID().Value())
	}
	check("third refused", 2, 2)

	done, ok := holds.take("hold-1")
	if !ok {
		t.Fatal("hold-1's handler found no hold")
	}
	check("hold-1 handled, in setup", 2, 1)
	if _, again := holds.take("hold-1"); again {
		t.Error("hold-1 taken twice")
	}
	done()
	check("hold-1's setup over", 1, 1)

	// A second new INVITE with hold-2's Call-ID (another transaction)
	// holds its place instead of hold-2's first.
	if judge("hold-2", "h2b") {
		t.Fatal("hold-2's second INVITE refused, want passed on")
	}
	check("hold-2 read twice", 1, 1)

	now := time.Now()
	if n := holds.expire(now); n != 0 {
		t.Errorf("%d holds released at once, want none before %s", n, holdExpiry)
	}
	if n := holds.expire(now.Add(holdExpiry + time.Second)); n != 1 {
		t.Errorf("%d holds released after %s, want 1", n, holdExpiry)
	}
	check("never handled, released", 0, 0)
	if on, why := d.RefusingSetups(); on {
		t.Errorf("refusing by %s with no call in setup", why)
	}
}

// len returns how many holds wait for their handler.
func (h *setupHolds) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}
