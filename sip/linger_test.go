package sip

import (
	"testing"
	"time"
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
