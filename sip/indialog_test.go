package sip

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// rawCall is a call a rawPeer placed to 1900 and Hotline answered.
type rawCall struct {
	p                      *rawPeer
	callID, fromTag, toTag string
	cseq                   int
}

// call places a call to 1900 and returns once Hotline has answered it
// (200 OK, not acknowledged yet).
func (p *rawPeer) call() (*rawCall, *sip.Response) {
	p.t.Helper()
	msg := p.fill(fuzzInvite("1900", "@ID@-call", "1", "application/sdp", fuzzSDP("sendrecv", "0 8 101")))
	res := p.ask(msg)
	if res.StatusCode != 200 {
		p.t.Fatalf("INVITE: got %d %s, want 200", res.StatusCode, res.Reason)
	}
	c := &rawCall{p: p, callID: res.CallID().Value(), cseq: 1}
	c.fromTag, _ = res.From().Params.Get("tag")
	c.toTag, _ = res.To().Params.Get("tag")
	return c, res
}

// ack acknowledges Hotline's 200 OK to the INVITE.
func (c *rawCall) ack(ok *sip.Response) {
	c.p.t.Helper()
	req := sip.NewRequest(sip.ACK, ok.Contact().Address)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: c.p.port, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	req.AppendHeader(via)
	req.AppendHeader(sip.HeaderClone(ok.From()))
	req.AppendHeader(sip.HeaderClone(ok.To()))
	req.AppendHeader(sip.HeaderClone(ok.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: ok.CSeq().SeqNo, MethodName: sip.ACK})
	req.SetBody(nil)
	req.AppendHeader(sip.NewHeader("Content-Length", "0"))
	c.p.send(req.String())
}

// msg renders a request of the peer with the given Call-ID and tags (the
// branch is new).
func (p *rawPeer) msg(method, callID string, cseq int, fromTag, toTag, ctype, body string) string {
	toParams := ""
	if toTag != "" {
		toParams = ";tag=" + toTag
	}
	m := fuzzReq(method, "1900", callID, strconv.Itoa(cseq), toParams, ctype, body)
	return p.fill(strings.Replace(m, ";tag=@ID@", ";tag="+fromTag, 1))
}

// request sends an in-dialog request with the given tags ("" for the
// call's own) and returns Hotline's final response.
func (c *rawCall) request(method, fromTag, toTag, ctype, body string) *sip.Response {
	c.p.t.Helper()
	if fromTag == "" {
		fromTag = c.fromTag
	}
	if toTag == "" {
		toTag = c.toTag
	}
	c.cseq++
	return c.p.ask(c.p.msg(method, c.callID, c.cseq, fromTag, toTag, ctype, body))
}

func TestReInviteBeforeTheACKGets500(t *testing.T) {
	f := newFixture(t)
	p := newRawPeer(t, f.srv)
	c, ok := p.call()

	// The caller's ACK is still on its way (UDP may reorder): a re-INVITE
	// now must not take the dialog's CSeq from the ACK.
	res := c.request("INVITE", "", "", "application/sdp", p.fill(fuzzSDP("sendonly", "0")))
	wantStatus(t, "re-INVITE before the ACK", res, 500, "")
	if header(res, "Retry-After") == "" {
		t.Errorf("500 to the early re-INVITE has no Retry-After")
	}

	// The ACK confirms the call; re-INVITEs are answered from then on.
	c.ack(ok)
	deadline := time.Now().Add(waitTimeout)
	for {
		res = c.request("INVITE", "", "", "application/sdp", p.fill(fuzzSDP("sendonly", "0")))
		if res.StatusCode != 500 || time.Now().After(deadline) {
			break
		}
	}
	wantStatus(t, "re-INVITE after the ACK", res, 200, "")
	wantStatus(t, "BYE", c.request("BYE", "", "", "", ""), 200, "")
	f.checkIdle()
}

func TestInDialogRequestsNeedTheDialogsTags(t *testing.T) {
	f := newFixture(t)
	p := newRawPeer(t, f.srv)
	c, ok := p.call()
	c.ack(ok)

	// The right Call-ID with someone else's tags is not this call.
	wantStatus(t, "BYE with another To tag", c.request("BYE", "", "not-hotlines-tag", "", ""), 481, "")
	wantStatus(t, "BYE with another From tag", c.request("BYE", "not-the-callers-tag", "", "", ""), 481, "")
	wantStatus(t, "INFO with another To tag", c.request("INFO", "", "not-hotlines-tag", "", ""), 481, "")
	wantStatus(t, "re-INVITE with another To tag", c.request("INVITE", "", "not-hotlines-tag", "application/sdp",
		p.fill(fuzzSDP("sendonly", "0"))), 481, "")
	if got := f.srv.ActiveCalls(); got != 1 {
		t.Fatalf("ActiveCalls = %d after stray requests, want the call still up", got)
	}
	wantStatus(t, "INFO", c.request("INFO", "", "", "application/dtmf-relay", "Signal=1\r\nDuration=100\r\n"), 200, "")
	wantStatus(t, "BYE", c.request("BYE", "", "", "", ""), 200, "")
	f.checkIdle()
}

func TestNewINVITEWithACallIDInUseGets482(t *testing.T) {
	f := newFixture(t)
	p := newRawPeer(t, f.srv)
	c, ok := p.call()
	c.ack(ok)

	// A second INVITE (another branch, no To tag) with the call's Call-ID
	// used to take the call's place in the call table: the call in
	// progress could then not be hung up, and held its RTP port and queue
	// place until the maximum wait.
	dup := p.msg("INVITE", c.callID, 1, c.fromTag, "", "application/sdp", p.fill(fuzzSDP("sendrecv", "0")))
	wantStatus(t, "INVITE with the Call-ID of a call in progress", p.ask(dup), 482, "Call-ID")
	if got := f.srv.ActiveCalls(); got != 1 {
		t.Errorf("ActiveCalls = %d, want 1", got)
	}
	wantStatus(t, "BYE of the call in progress", c.request("BYE", "", "", "", ""), 200, "")
	f.checkIdle()
}
