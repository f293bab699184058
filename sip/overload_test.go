package sip

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/routing/directory"
	"hotline/sip/overload"
	"hotline/sip/sdp"
)

// TestOverloadShedsNewCallsOnly: while overload control sheds (driven
// through its pressure file), a new INVITE gets 503 with the overload's
// Retry-After and takes no RTP port, while the call in progress gets its
// re-INVITE and BYE answered and an agent's REGISTER is answered; once
// the pressure is gone, calls are admitted again.
func TestOverloadShedsNewCallsOnly(t *testing.T) {
	pressure := filepath.Join(t.TempDir(), "pressure")
	f := newFixture(t, func(o *fixtureOpts) {
		ov := &o.cfg.Overload
		ov.PressureFile, ov.Interval, ov.Confirm, ov.Hold = pressure, 10*time.Millisecond, 1, 0
		ov.SocketBacklog, ov.RecorderDrops = -1, -1
	})
	first := newPhone(t, "5551111", f.addr)
	call := first.call("1900", first.sdp(sdp.SendRecv))
	call.answered() // queued, answered with hold music

	setPressure(t, pressure, "1")
	waitShedding(t, f.srv, true)
	ports := f.srv.Ports().InUse()

	second := newPhone(t, "5552222", f.addr)
	res := second.request(sip.INVITE, "1900", second.sdp(sdp.SendRecv), nil)
	if res.StatusCode != 503 || header(res, "Retry-After") != "5" {
		t.Errorf("new call while overloaded: got %d %s Retry-After %q, want 503 with Retry-After 5",
			res.StatusCode, res.Reason, header(res, "Retry-After"))
	}
	if got := f.srv.Ports().InUse(); got != ports {
		t.Errorf("the refused call took RTP ports: %d in use, was %d", got, ports)
	}
	if res := call.reinvite(first.sdp(sdp.SendRecv)); res.StatusCode != 200 {
		t.Errorf("re-INVITE of the call in progress while overloaded: got %d %s, want 200", res.StatusCode, res.Reason)
	}
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice") // fails the test unless 200
	call.bye()              // fails the test unless answered
	f.checkIdle()

	setPressure(t, pressure, "0")
	waitShedding(t, f.srv, false)
	again := second.call("1900", second.sdp(sdp.SendRecv))
	again.answered()
	again.bye()
}

func setPressure(t *testing.T, path, v string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitShedding waits (bounded) until the server's overload decision is on
// (or off), and its door processes have it.
func waitShedding(t *testing.T, s *Server, on bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		// The door processes get the decision after the detector has it
		// (the monitor's sample publishes it): both, or a door process
		// could still pass on what Hotline then refuses itself.
		published := true
		for _, l := range s.doorLinks() {
			published = published && l.shedPublished() == on
		}
		if got, _ := s.overload.Shedding(); got == on && published {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("overload shedding never became %v", on)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stuckInSetup starts a fixture (mod applied) where caller 5551111's
// lookup in the customer directory waits until release is closed, and
// places that caller's call to 1900: once it returns, the call is stuck
// in its setup.
func stuckInSetup(t *testing.T, mod func(*fixtureOpts)) (f *fixture, call *outCall, release chan struct{}) {
	t.Helper()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	f = newFixture(t, func(o *fixtureOpts) {
		mod(o)
		o.deps = func(d *Deps) {
			d.Routes.Customers = func(ctx context.Context, callerID string) directory.Customer {
				if callerID == "5551111" {
					entered <- struct{}{}
					select {
					case <-release:
					case <-ctx.Done():
					}
				}
				return directory.Unknown(callerID)
			}
		}
	})
	first := newPhone(t, "5551111", f.addr)
	call = first.call("1900", first.sdp(sdp.SendRecv))
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatal("the first call never reached its setup")
	}
	return f, call, release
}

// TestQueueRefusalsShed: new calls a door refuses for a queue (here
// max_setups 1, with a call stuck in its setup) are a signal of their
// own: at queue_refused 1 and confirm 1 one such refusal in a sample
// makes Hotline shed (reason setups) and learn a rate, whether Hotline's
// door or the door process refused it. Shedding's own refusals do not
// count as the queue's (the signal would hold itself up).
func TestQueueRefusalsShed(t *testing.T) {
	t.Run("in Hotline", func(t *testing.T) { testQueueRefusalsShed(t, false) })
	if runtime.GOOS == "linux" {
		t.Run("door process", func(t *testing.T) { testQueueRefusalsShed(t, true) })
	}
}

func testQueueRefusalsShed(t *testing.T, doorProcess bool) {
	f, call, release := stuckInSetup(t, func(o *fixtureOpts) {
		ov := &o.cfg.Overload
		ov.MaxSetups, ov.QueueRefused, ov.Confirm, ov.Interval, ov.Hold = 1, 1, 1, 10*time.Millisecond, 0
		ov.DoorProcess = &doorProcess
	})
	u := newRawUA(t)
	u.send(u.invite("queue-1", "queue1"), f.addr)
	if res := u.next(); res.StatusCode != 503 {
		t.Fatalf("new call while another is stuck in its setup (max_setups 1): %d %s, want 503", res.StatusCode, res.Reason)
	}
	waitShedding(t, f.srv, true)
	if st := f.srv.overload.State(); st.Reason != overload.ReasonSetups || st.Learned == 0 {
		t.Errorf("shedding after a refusal for max_setups: %+v, want reason setups and a learned rate", st)
	}
	// With no call in setup, new calls are refused by shedding's share
	// and the learned rate (1 a second), with the reason setups: not
	// refusals for the queue. (One the rate lets through is answered
	// and hung up before the next.)
	_, before := f.srv.overload.QueueRefused()
	close(release)
	call.answered()
	if !pollUntil(func() bool { return f.srv.overload.Setups() == 0 }) {
		t.Fatalf("%d calls in setup after the first was answered, want 0", f.srv.overload.Setups())
	}
	refused := 0
	for i := range 20 {
		branch := fmt.Sprintf("shed%d", i)
		u.send(u.invite(fmt.Sprintf("shed-%d", i), branch), f.addr)
		res, seen := u.final(sip.INVITE)
		switch res.StatusCode {
		case 503:
			refused++
		case 200:
			u.ackAndHangUp(t, res, branch, f.addr)
		default:
			t.Fatalf("new call %d while shedding: responses %v", i, seen)
		}
	}
	if refused == 0 {
		t.Fatal("no new call refused by shedding: nothing to tell its refusals from the queue's")
	}
	if _, after := f.srv.overload.QueueRefused(); after != before {
		t.Errorf("%d of %d refusals by shedding (reason setups) counted as the queue's, want none", after-before, refused)
	}
	call.bye()
	f.checkIdle()
}

// TestOverloadBoundsCallsInSetup: with sip.overload.max_setups 1, a new
// INVITE that arrives while another call is still being set up (here:
// its caller lookup is slow) gets 503 with Retry-After at once; once the
// first call's setup is over (answered in the queue), new calls are
// admitted again.
func TestOverloadBoundsCallsInSetup(t *testing.T) {
	f, call, release := stuckInSetup(t, func(o *fixtureOpts) { o.cfg.Overload.MaxSetups = 1 })
	second := newPhone(t, "5552222", f.addr)
	t0 := time.Now()
	res := second.request(sip.INVITE, "1900", second.sdp(sdp.SendRecv), nil)
	if res.StatusCode != 503 || header(res, "Retry-After") != "5" {
		t.Errorf("new call while another is being set up (max_setups 1): got %d %s Retry-After %q, want 503 with Retry-After 5",
			res.StatusCode, res.Reason, header(res, "Retry-After"))
	}
	t.Logf("503 after %s", time.Since(t0))
	close(release)
	call.answered() // queued (no agent): answered with hold music, setup over
	again := second.call("1900", second.sdp(sdp.SendRecv))
	again.answered()
	again.bye()
	call.bye()
	f.checkIdle()
}
