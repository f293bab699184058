package sip

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestFinishedTransactionsLinger: a BYE Hotline answered is kept as a
// transaction for sip.transaction_linger, so that its retransmission (the
// 200 lost on the way) gets the same 200 again; after that it is gone, and
// the retransmission finds no call: 481. (At RFC 3261's 64×T1 = 32 s,
// the most, the finished transactions are most of Hotline's live heap at
// a few hundred calls a second; the default is 5 s.)
func TestFinishedTransactionsLinger(t *testing.T) {
	const linger = time.Second
	f := newFixture(t, func(o *fixtureOpts) { o.cfg.TransactionLinger = linger })
	p := newRawPeer(t, f.srv)
	c, ok := p.call()
	c.ack(ok)
	c.cseq++
	bye := p.msg("BYE", c.callID, c.cseq, c.fromTag, c.toTag, "", "") // one branch: resent, a retransmission
	sent := time.Now()
	wantStatus(t, "BYE", p.ask(bye), 200, "")
	res := p.ask(bye)
	if since := time.Since(sent); since < linger {
		wantStatus(t, "the BYE retransmitted within the linger", res, 200, "")
	} else {
		t.Logf("the BYE and its retransmission took %s: past the linger, not judged", since)
	}
	f.checkIdle()
	time.Sleep(linger + 500*time.Millisecond - time.Since(sent))
	wantStatus(t, "the BYE retransmitted after the linger", p.ask(bye), 481, "")
}

// TestAgentsLateOKAcknowledgedAgain: the agent's 200 OK that comes again
// after Hotline's INVITE transaction ended (its ACKs lost for the whole
// sip.transaction_linger) is acknowledged again, with the ACK of the
// dialog, so that the agent's phone does not hang up for want of one; a
// 200 of a Call-ID Hotline has no call for gets nothing.
func TestAgentsLateOKAcknowledgedAgain(t *testing.T) {
	const linger = time.Second
	f, agent, p, in, ok := answeredUnacked(t, func(o *fixtureOpts) { o.cfg.TransactionLinger = linger })
	(&rawCall{p: p, callID: ok.CallID().Value()}).ack(ok)
	first := agent.waitRequest(sip.ACK, in.callID())
	time.Sleep(linger + 500*time.Millisecond)

	late := in.dlg.InviteResponse.Clone()
	if err := agent.srv.WriteResponse(late); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(agent.requests(sip.ACK, in.callID())) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	acks := agent.requests(sip.ACK, in.callID())
	if len(acks) != 2 {
		t.Fatalf("the agent got %d ACKs after its 200 came again past the linger, want 2", len(acks))
	}
	if acks[1].CSeq().SeqNo != first.CSeq().SeqNo || acks[1].To().Value() != first.To().Value() {
		t.Errorf("second ACK %s / To %s, want the first's %s / %s", acks[1].CSeq().Value(), acks[1].To().Value(), first.CSeq().Value(), first.To().Value())
	}

	// A 200 for a Call-ID Hotline has no call for: no ACK.
	stray := late.Clone()
	stray.ReplaceHeader(sip.NewHeader("Call-ID", "no-such-call"))
	if err := agent.srv.WriteResponse(stray); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if got := agent.requests(sip.ACK, "no-such-call"); len(got) != 0 {
		t.Errorf("%d ACKs for a 200 of no call", len(got))
	}
	in.bye()
	bye := p.nextRequest(sip.BYE, 5*time.Second)
	p.send(sip.NewResponseFromRequest(bye, 200, "OK", nil).String())
	f.checkIdle()
}
