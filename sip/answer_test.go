package sip

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
)

// TestBridgedBeforeTheACKAndHungUpWithoutIt: when an agent answers,
// Hotline answers the caller and bridges the two as its 200 OK goes out,
// not once the caller's ACK came: the agent's audio reaches a caller who
// has not acknowledged yet. A caller whose ACK never comes is hung up
// once the 200's retransmissions end (sip.transaction_linger, here 5 s;
// RFC 3261 §13.3.1.4's 64×T1 at most):
// the caller and the agent get a BYE, and the call record says why. (It
// used to wait for the ACK before the bridge: the agent heard nothing
// for 32 s, and the record blamed the caller for leaving.)
func TestBridgedBeforeTheACKAndHungUpWithoutIt(t *testing.T) {
	const linger = 5 * time.Second
	f, agent, p, in, ok := answeredUnacked(t, func(o *fixtureOpts) { o.cfg.TransactionLinger = linger })
	answered := time.Now()

	// No ACK: the agent's audio reaches the caller all the same.
	const ssrc = 0x5eed
	s := agent.sendRTP(in.remoteRTP(), ssrc)
	_, _, err := readRTP(p.rtp, ssrc, 3)
	s.Stop()
	if err != nil {
		t.Fatalf("the agent's audio before the caller's ACK: %v", err)
	}

	// Still no ACK when Hotline stops retransmitting its 200: a BYE each.
	bye := p.nextRequest(sip.BYE, linger+10*time.Second)
	if took := time.Since(answered); took < linger-sip.T1 {
		t.Errorf("BYE to the caller %s after the 200, want about the linger (%s) of retransmissions first", took, linger)
	}
	if bye.CallID() == nil || bye.CallID().Value() != ok.CallID().Value() {
		t.Errorf("BYE for Call-ID %v, want the call's %s", bye.CallID(), ok.CallID().Value())
	}
	res := sip.NewResponseFromRequest(bye, 200, "OK", nil)
	p.send(res.String())
	agent.waitRequest(sip.BYE, in.callID())
	if r := f.record(ok.CallID().Value()); r.Cause != callflow.ErrNoAck.Error() || r.Agent != "alice" {
		t.Errorf("call record: cause %q agent %q, want %q and alice", r.Cause, r.Agent, callflow.ErrNoAck.Error())
	}
	f.checkIdle()
}

// TestAgentHangsUpBeforeTheCallersACK: the agent hangs up while the
// caller's ACK for the 200 OK is still on its way (lost, retransmitted).
// Hotline may not send the caller a BYE before that ACK (RFC 3261 §15),
// and waiting for it must not hold up the call's end: the call record
// comes at once, and the caller gets its BYE when its ACK comes, even
// later than the teardown's ByeTimeout for each BYE. (The BYE used to
// wait within that timeout and then be dropped: the caller stayed on
// the line with nobody there.)
func TestAgentHangsUpBeforeTheCallersACK(t *testing.T) {
	// The 200 retransmitted past ByeTimeout: RFC 3261's 64×T1.
	f, _, p, in, ok := answeredUnacked(t, func(o *fixtureOpts) { o.cfg.TransactionLinger = maxLinger })
	in.bye()
	hungUp := time.Now()
	if r := f.record(ok.CallID().Value()); r.Agent != "alice" || r.Cause != callflow.ErrAgentHangup.Error() {
		t.Errorf("call record: cause %q agent %q, want %q and alice", r.Cause, r.Agent, callflow.ErrAgentHangup.Error())
	}
	if took := time.Since(hungUp); took >= callflow.ByeTimeout {
		t.Errorf("call record %s after the agent hung up: the teardown waited for the caller's ACK", took)
	}

	// No BYE before the ACK, however long it takes (past ByeTimeout).
	deadline := time.Now().Add(callflow.ByeTimeout + time.Second)
	for {
		msg, _, got, err := p.readMessage(deadline)
		if !got {
			break // the deadline: only the 200's retransmissions came
		}
		if req, isReq := msg.(*sip.Request); err == nil && isReq && req.Method == sip.BYE {
			t.Fatalf("BYE to the caller before its ACK")
		}
	}
	acked := time.Now()
	(&rawCall{p: p}).ack(ok)
	bye := p.nextRequest(sip.BYE, 5*time.Second)
	if bye.CallID() == nil || bye.CallID().Value() != ok.CallID().Value() {
		t.Errorf("BYE for Call-ID %v, want the call's %s", bye.CallID(), ok.CallID().Value())
	}
	t.Logf("BYE %s after the ACK", time.Since(acked).Round(time.Millisecond))
	p.send(sip.NewResponseFromRequest(bye, 200, "OK", nil).String())
	f.checkIdle()
}

// TestShutdownWithACallerYetToACK: Hotline stopping while an answered
// caller's ACK has not come leaves nothing running: once Shutdown
// returns, no goroutine waits for that ACK any more. (sipgo's wait, in
// the 200's retransmission loop, used to outlive Shutdown by up to T2,
// 4 s, until its next retransmission found the transaction ended; the
// package's leak check failed CI on it.)
func TestShutdownWithACallerYetToACK(t *testing.T) {
	f, _, _, _, _ := answeredUnacked(t)
	// Past the first retransmission (T1): the next is T2 (4 s) away.
	time.Sleep(2 * sip.T1)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	const wait = "sipgo.(*DialogServerSession).WriteResponse("
	if n := bytes.Count(allStacks(), []byte(wait)); n != 0 {
		t.Errorf("after Shutdown, %d goroutine(s) still in %s, waiting for the caller's ACK", n, wait)
	}
}

// answeredUnacked is a call from a raw caller that agent alice
// answered: Hotline's 200 OK to the caller (ok) is not acknowledged.
func answeredUnacked(t *testing.T, mods ...func(*fixtureOpts)) (*fixture, *phone, *rawPeer, *incoming, *sip.Response) {
	t.Helper()
	f := newFixture(t, mods...)
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	p := newRawPeer(t, f.srv)
	p.send(p.fill(fuzzInvite("1900", "@ID@-unacked", "1", "application/sdp", fuzzSDP("sendrecv", "0"))))
	in := agent.nextInvite()
	in.answer()
	var ok *sip.Response
	for ok == nil {
		if res := p.next(); res.StatusCode >= 200 {
			ok = res
		}
	}
	if ok.StatusCode != 200 {
		t.Fatalf("INVITE: got %d %s, want 200 once the agent answered", ok.StatusCode, ok.Reason)
	}
	return f, agent, p, in, ok
}

// nextRequest reads the peer's socket until a request of method comes
// (within wait); responses and other requests are skipped.
func (p *rawPeer) nextRequest(method sip.RequestMethod, wait time.Duration) *sip.Request {
	p.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		msg, _, err := p.nextMessage(deadline, fmt.Sprintf("%s within %s", method, wait))
		if req, ok := msg.(*sip.Request); err == nil && ok && req.Method == method {
			return req
		}
	}
}
