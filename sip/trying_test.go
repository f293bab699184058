package sip

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/routing/directory"
)

// TestOneTryingBeforeRinging: a caller whose customer lookup is slow
// (longer than the 200 ms after which sipgo sends a 100 Trying of its own
// from a timer) reads on its socket exactly one 100 Trying, then the 180
// Ringing when the agent's phone rings, and no 100 after it.
func TestOneTryingBeforeRinging(t *testing.T) {
	f := newFixture(t, func(o *fixtureOpts) {
		o.deps = func(d *Deps) {
			d.Customers = func(ctx context.Context, number string) directory.Customer {
				select { // a CRM taking its time
				case <-time.After(400 * time.Millisecond):
				case <-ctx.Done():
				}
				return directory.Unknown(number)
			}
		}
	})
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	p := newRawPeer(t, f.srv)
	invite := p.fill(fuzzInvite("1900", "@ID@-call", "1", "application/sdp", fuzzSDP("sendrecv", "0 8 101")))
	p.send(invite)
	in := agent.nextInvite()
	in.ring()

	// Every response until the 180, and what follows it for a while.
	var got []int
	var ringing *sip.Response
	buf := make([]byte, 65536)
	deadline := time.Now().Add(waitTimeout)
	for {
		_ = p.conn.SetReadDeadline(deadline)
		n, err := p.conn.Read(buf)
		if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() && ringing != nil {
			break
		}
		if err != nil {
			t.Fatalf("responses %v, then: %v", got, err)
		}
		msg, err := sip.ParseMessage(bytes.Clone(buf[:n]))
		if err != nil {
			t.Fatalf("unparsable message: %v\n%s", err, buf[:n])
		}
		res, ok := msg.(*sip.Response)
		if !ok {
			continue
		}
		got = append(got, res.StatusCode)
		if res.StatusCode == 180 && ringing == nil {
			ringing = res
			deadline = time.Now().Add(500 * time.Millisecond)
		}
		if res.StatusCode >= 200 {
			t.Fatalf("responses %v: the call ended before it rang", got)
		}
	}
	if len(got) != 2 || got[0] != 100 || got[1] != 180 {
		t.Errorf("the caller read %v, want [100 180]: one 100 Trying, then the 180", got)
	}

	// The caller gives up: CANCEL (the INVITE's Via), then the ACK of the 487.
	cancel := strings.Replace(strings.Replace(invite, "INVITE sip:", "CANCEL sip:", 1), "CSeq: 1 INVITE", "CSeq: 1 CANCEL", 1)
	cancel = cancel[:strings.Index(cancel, "Content-Type:")] + "Content-Length: 0\r\n\r\n"
	p.send(cancel)
	for {
		res := p.next()
		if res.StatusCode < 200 || res.CSeq().MethodName != sip.INVITE {
			continue
		}
		if res.StatusCode != 487 {
			t.Errorf("INVITE after CANCEL: %d, want 487", res.StatusCode)
		}
		tag, _ := res.To().Params.Get("tag")
		ack := strings.Replace(strings.Replace(cancel, "CANCEL sip:", "ACK sip:", 1), "CSeq: 1 CANCEL", "CSeq: 1 ACK", 1)
		ack = strings.Replace(ack, "To: <sip:1900@127.0.0.1>", "To: <sip:1900@127.0.0.1>;tag="+tag, 1)
		p.send(ack)
		break
	}
	f.checkIdle()
}
